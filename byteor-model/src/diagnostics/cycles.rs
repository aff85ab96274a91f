//! The cycle walk plan and spec validation share: a depth-first walk that lists a bounded
//! number of cycles and counts the rest, in time and memory linear in the graph.

/// Most cycles one validation lists; the walk counts the others.
pub(crate) const MAX_LISTED_CYCLES: usize = 16;

/// A long cycle is listed by its first this many nodes and its last this many, with the number
/// of nodes between them.
pub(crate) const CYCLE_END_NODES: usize = 16;

/// One listed cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cycle {
    /// The cycle's nodes from its lowest-numbered one, that one repeated at the end. When
    /// `omitted > 0`, only the first and last [`CYCLE_END_NODES`] nodes are here, and the
    /// omitted ones come between `nodes[CYCLE_END_NODES - 1]` and `nodes[CYCLE_END_NODES]`.
    pub(crate) nodes: Vec<usize>,
    /// Nodes of the cycle left out of `nodes`.
    pub(crate) omitted: usize,
}

/// What the walk found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Cycles {
    /// The first [`MAX_LISTED_CYCLES`] cycles, in the order the walk closed them.
    pub(crate) listed: Vec<Cycle>,
    /// Further cycles the walk closed.
    pub(crate) more: usize,
}

/// Walks `succ` (node `i` leads to each node of `succ[i]`; no edge listed twice) depth first,
/// from roots in index order and successors in list order, and reports the cycle each back edge
/// closes. Every group of nodes that forms a cycle is found at least once, and no cycle twice
/// (distinct back edges close distinct cycles when no edge is listed twice). Iterative, so a
/// long chain cannot overflow the stack; only the listed cycles cost more than constant work.
pub(crate) fn find_cycles(succ: &[Vec<usize>]) -> Cycles {
    const NOT_ON_PATH: usize = usize::MAX;
    let n = succ.len();
    let mut done = vec![false; n];
    // Position on the current path, for the nodes on it.
    let mut on_path = vec![NOT_ON_PATH; n];
    let mut found = Cycles::default();
    let mut path: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if done[root] {
            continue;
        }
        // Stack of (node, index of the next successor to visit).
        path.push((root, 0));
        on_path[root] = 0;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            let Some(&to) = succ[node].get(*next) else {
                done[node] = true;
                on_path[node] = NOT_ON_PATH;
                path.pop();
                continue;
            };
            *next += 1;
            if to >= n || done[to] {
                continue;
            }
            let start = on_path[to];
            if start == NOT_ON_PATH {
                on_path[to] = path.len();
                path.push((to, 0));
            } else if found.listed.len() < MAX_LISTED_CYCLES {
                found.listed.push(listed_cycle(&path[start..]));
            } else {
                found.more += 1;
            }
        }
    }
    found
}

/// The cycle along `path` (closed by an edge from its last node to its first), rotated to
/// start at its lowest-numbered node and shortened to its ends when long.
fn listed_cycle(path: &[(usize, usize)]) -> Cycle {
    let len = path.len();
    let low = (0..len).min_by_key(|&i| path[i].0).unwrap_or(0);
    let at = |i: usize| path[(low + i) % len].0;
    let (nodes, omitted): (Vec<usize>, usize) = if len <= 2 * CYCLE_END_NODES {
        ((0..len).map(at).collect(), 0)
    } else {
        let tail = len - CYCLE_END_NODES;
        (
            (0..CYCLE_END_NODES).chain(tail..len).map(at).collect(),
            tail - CYCLE_END_NODES,
        )
    };
    let mut nodes = nodes;
    nodes.push(at(0));
    Cycle { nodes, omitted }
}

/// A listed cycle's names as messages print them: `a -> b -> a`, with the omitted middle of a
/// long cycle shown as `… N more …`.
pub(crate) fn cycle_text(names: &[String], omitted: &usize) -> String {
    if *omitted == 0 || names.len() <= CYCLE_END_NODES {
        return names.join(" -> ");
    }
    let (head, tail) = names.split_at(CYCLE_END_NODES);
    format!(
        "{} -> … {omitted} more … -> {}",
        head.join(" -> "),
        tail.join(" -> ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(c: &Cycles) -> Vec<Vec<usize>> {
        c.listed.iter().map(|c| c.nodes.clone()).collect()
    }

    #[test]
    fn cycles_are_listed_from_their_lowest_node() {
        // 0 -> 1 -> 2 -> 1, 2 -> 0, 3 -> 3.
        let succ = vec![vec![1], vec![2], vec![1, 0], vec![3]];
        let c = find_cycles(&succ);
        assert_eq!(nodes(&c), [vec![1, 2, 1], vec![0, 1, 2, 0], vec![3, 3]]);
        assert_eq!(c.more, 0);
        assert_eq!(find_cycles(&[vec![1], vec![2], vec![]]), Cycles::default());
    }

    #[test]
    fn long_cycles_keep_their_ends() {
        let n = 1000;
        let succ: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n]).collect();
        let c = find_cycles(&succ);
        assert_eq!(c.listed.len(), 1);
        let cycle = &c.listed[0];
        assert_eq!(cycle.omitted, n - 2 * CYCLE_END_NODES);
        assert_eq!(cycle.nodes.len(), 2 * CYCLE_END_NODES + 1);
        assert_eq!(cycle.nodes[..3], [0, 1, 2]);
        assert_eq!(cycle.nodes[2 * CYCLE_END_NODES - 1..], [n - 1, 0]);
        let names: Vec<String> = cycle.nodes.iter().map(|i| format!("s{i}")).collect();
        let text = cycle_text(&names, &cycle.omitted);
        assert!(text.starts_with("s0 -> s1 -> "), "{text}");
        assert!(
            text.contains(&format!("s15 -> … {} more … -> s984", cycle.omitted)),
            "{text}"
        );
        assert!(text.ends_with("s999 -> s0"), "{text}");
    }

    #[test]
    fn cycles_past_the_limit_are_counted() {
        // A chain with an edge back to 0 from every node: one cycle per back edge.
        let n = 10_000;
        let succ: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1, 0] } else { vec![0] })
            .collect();
        let c = find_cycles(&succ);
        assert_eq!(c.listed.len(), MAX_LISTED_CYCLES);
        assert_eq!(c.listed.len() + c.more, n);
        assert!(c
            .listed
            .iter()
            .all(|c| c.nodes.len() <= 2 * CYCLE_END_NODES + 1));
    }

    #[test]
    fn dangling_successors_are_ignored() {
        assert_eq!(find_cycles(&[vec![7, 0]]).listed[0].nodes, [0, 0]);
    }
}
