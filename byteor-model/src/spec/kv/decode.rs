//! Reading the kv text: `from_kv`, the line-by-line decoder and its checks.

use std::collections::BTreeMap;

use crate::spec::model::{
    EndpointSpec, LaneGraphSpec, LaneSpec, PipelineSpecV1, RoleSpec, SingleRingSpec, SlotGeometry,
    StageSpec, TopologySpec,
};
use crate::vocab::ExecutionTargetV1;

use super::keys::*;
use super::values::*;
use super::*;

impl PipelineSpecV1 {
    /// Reads a spec from kv text (see the [module docs](crate::spec::kv) for the format).
    ///
    /// Strict: unknown, repeated or missing keys and malformed values are errors carrying the
    /// 1-based line number. Lines may come in any order; blank lines and `#` comments are
    /// ignored. `from_kv(&spec.to_kv())` gives back `spec` exactly for every spec whose
    /// parameter values nest at most [`PARAM_V1_MAX_DEPTH`](crate::PARAM_V1_MAX_DEPTH) levels
    /// (every spec that passes [`validate_v1`](crate::spec::validate_v1), and invalid ones
    /// too); a deeper value is refused. Reading takes time and memory linear in the text, and
    /// the parser's recursion is bounded by the nesting limit.
    ///
    /// ```
    /// use byteor_model::spec::{KvError, PipelineSpecV1};
    ///
    /// let err = PipelineSpecV1::from_kv("byteor.spec=1\nname=x\ncolour=blue\n").unwrap_err();
    /// assert_eq!(err.line(), 3);
    /// assert!(matches!(err, KvError::UnknownKey { ref key, .. } if key == "colour"));
    /// ```
    pub fn from_kv(text: &str) -> Result<PipelineSpecV1, KvError> {
        Decoder::new(text)?.decode()
    }
}

/// The line that makes other keys required, for [`KvError::MissingKey`].
#[derive(Clone)]
pub(super) struct Anchor {
    line: usize,
    text: String,
}

/// A parsed kv text, consumed key by key while the spec is built.
pub(super) struct Decoder<'a> {
    entries: BTreeMap<Key, (usize, &'a str)>,
    version: Anchor,
}

impl<'a> Decoder<'a> {
    /// Splits the text into entries: syntax, unknown keys and repeated keys, in line order.
    pub(super) fn new(text: &'a str) -> Result<Self, KvError> {
        let mut entries: BTreeMap<Key, (usize, &'a str)> = BTreeMap::new();
        for (index, raw_line) in text.split('\n').enumerate() {
            let line = index + 1;
            let content = raw_line.strip_suffix('\r').unwrap_or(raw_line);
            let trimmed = content.trim_start_matches([' ', '\t']);
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((raw_key, value)) = content.split_once('=') else {
                return Err(KvError::MissingSeparator { line });
            };
            let key = match classify(raw_key) {
                Ok(Some(key)) => key,
                Ok(None) => {
                    return Err(KvError::UnknownKey {
                        line,
                        key: cut(raw_key),
                    })
                }
                Err(reason) => {
                    return Err(KvError::BadKey {
                        line,
                        key: cut(raw_key),
                        reason,
                    })
                }
            };
            if let Some(&(first, _)) = entries.get(&key) {
                return Err(KvError::DuplicateKey {
                    line,
                    key: key.to_string(),
                    first,
                });
            }
            entries.insert(key, (line, value));
        }
        let version = match entries.get(&Key::Fixed(KV_VERSION_KEY)) {
            None => return Err(KvError::MissingVersion),
            Some(&(line, value)) => {
                if value != KV_FORMAT_VERSION.to_string() {
                    return Err(KvError::UnsupportedVersion {
                        line,
                        found: cut(value),
                    });
                }
                Anchor {
                    line,
                    text: format!("{KV_VERSION_KEY}={value}"),
                }
            }
        };
        Ok(Decoder { entries, version })
    }

    /// Takes a required key and parses its value.
    pub(super) fn req<T>(
        &mut self,
        key: Key,
        anchor: &Anchor,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<(T, usize), KvError> {
        match self.entries.remove(&key) {
            None => Err(KvError::MissingKey {
                line: anchor.line,
                key: key.to_string(),
                required_by: anchor.text.clone(),
            }),
            Some((line, value)) => {
                parse(value)
                    .map(|v| (v, line))
                    .map_err(|reason| KvError::BadValue {
                        line,
                        key: key.to_string(),
                        value: cut(value),
                        reason,
                    })
            }
        }
    }

    /// Takes an optional key and parses its value.
    pub(super) fn opt<T>(
        &mut self,
        key: Key,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, KvError> {
        match self.entries.remove(&key) {
            None => Ok(None),
            Some((line, value)) => parse(value).map(Some).map_err(|reason| KvError::BadValue {
                line,
                key: key.to_string(),
                value: cut(value),
                reason,
            }),
        }
    }

    /// Reads a count key and checks every key of its table against it.
    pub(super) fn count(
        &mut self,
        table: Table,
        anchor: &Anchor,
    ) -> Result<(u32, Anchor), KvError> {
        let (count, line) = self.req(Key::Fixed(table.count_key()), anchor, parse_u32)?;
        let beyond = self
            .entries
            .iter()
            .filter_map(|(key, &(l, _))| match key {
                Key::Indexed(t, i, _) if *t == table && *i >= count => Some((l, key)),
                Key::Param(i, _) if table == Table::Stage && *i >= count => Some((l, key)),
                _ => None,
            })
            .min_by_key(|(l, _)| *l);
        if let Some((l, key)) = beyond {
            return Err(KvError::IndexOutOfRange {
                line: l,
                key: key.to_string(),
                count_key: table.count_key(),
                count,
                count_line: line,
            });
        }
        Ok((
            count,
            Anchor {
                line,
                text: format!("{}={count}", table.count_key()),
            },
        ))
    }

    /// Rejects keys of the target the text does not declare (the earliest line first).
    pub(super) fn check_target(
        &self,
        target: ExecutionTargetV1,
        target_line: usize,
    ) -> Result<(), KvError> {
        let foreign = self
            .entries
            .iter()
            .filter(|(key, _)| {
                let graph_key = match key {
                    Key::Fixed(k) => GRAPH_KEYS.contains(k),
                    Key::Indexed(t, _, _) => *t != Table::Stage,
                    Key::Param(..) => false,
                };
                let ring_key = matches!(key, Key::Fixed(k) if RING_KEYS.contains(k));
                match target {
                    ExecutionTargetV1::SingleRing => graph_key,
                    ExecutionTargetV1::LaneGraph => ring_key,
                }
            })
            .min_by_key(|(_, &(line, _))| line);
        match foreign {
            None => Ok(()),
            Some((key, &(line, _))) => Err(KvError::WrongTarget {
                line,
                key: key.to_string(),
                target,
                target_line,
            }),
        }
    }

    pub(super) fn decode(mut self) -> Result<PipelineSpecV1, KvError> {
        let version = self.version.clone();
        self.entries.remove(&Key::Fixed(KV_VERSION_KEY));
        let (target, target_line) = self.req(Key::Fixed("target"), &version, parse_target)?;
        self.check_target(target, target_line)?;
        let target_anchor = Anchor {
            line: target_line,
            text: format!("target={}", target.as_str()),
        };
        let (name, _) = self.req(Key::Fixed("name"), &version, unescape)?;

        let (stage_count, stages_anchor) = self.count(Table::Stage, &version)?;
        let mut stages = Vec::new();
        for i in 0..stage_count {
            let (id, _) = self.req(
                Key::Indexed(Table::Stage, i, "id"),
                &stages_anchor,
                parse_u32,
            )?;
            let (name, _) = self.req(
                Key::Indexed(Table::Stage, i, "name"),
                &stages_anchor,
                unescape,
            )?;
            let (kind, _) = self.req(
                Key::Indexed(Table::Stage, i, "kind"),
                &stages_anchor,
                unescape,
            )?;
            let (side_effects, _) = self.req(
                Key::Indexed(Table::Stage, i, "side_effects"),
                &stages_anchor,
                parse_bool,
            )?;
            let param_keys: Vec<Key> = self
                .entries
                .range(Key::Param(i, String::new())..)
                .map(|(k, _)| k.clone())
                .take_while(|k| matches!(k, Key::Param(j, _) if *j == i))
                .collect();
            let mut params = BTreeMap::new();
            for key in param_keys {
                let Key::Param(_, param_name) = &key else {
                    continue;
                };
                let param_name = param_name.clone();
                if let Some(value) = self.opt(key, parse_param)? {
                    params.insert(param_name, value);
                }
            }
            stages.push(StageSpec {
                id,
                name,
                kind,
                side_effects,
                params,
            });
        }

        let topology = match target {
            ExecutionTargetV1::SingleRing => {
                TopologySpec::SingleRing(self.decode_ring(&target_anchor)?)
            }
            ExecutionTargetV1::LaneGraph => {
                TopologySpec::LaneGraph(self.decode_graph(&target_anchor)?)
            }
        };

        // Every recognised key has been consumed by now; anything left is a key the
        // declared shape does not have.
        if let Some((key, &(line, _))) = self.entries.iter().min_by_key(|(_, &(l, _))| l) {
            return Err(KvError::UnknownKey {
                line,
                key: key.to_string(),
            });
        }
        Ok(PipelineSpecV1 {
            name,
            stages,
            topology,
        })
    }

    pub(super) fn decode_ring(&mut self, anchor: &Anchor) -> Result<SingleRingSpec, KvError> {
        let fixed = Key::Fixed;
        let (ingress, _) = self.req(fixed("single_ring.ingress"), anchor, unescape)?;
        let (egress, _) = self.req(fixed("single_ring.egress"), anchor, unescape)?;
        let (capacity, _) = self.req(fixed("single_ring.capacity"), anchor, parse_u32)?;
        let (size, _) = self.req(fixed("single_ring.slot_size"), anchor, parse_u32)?;
        let (align, _) = self.req(fixed("single_ring.slot_align"), anchor, parse_u32)?;
        let (shards, _) = self.req(fixed("single_ring.shards"), anchor, parse_u32)?;
        let (ordering, _) = self.req(fixed("single_ring.ordering"), anchor, parse_ordering)?;
        let shard_key = self.opt(fixed("single_ring.shard_key"), unescape)?;
        let (deps, _) = self.req(fixed("single_ring.deps"), anchor, |s| {
            parse_list(s, parse_mask)
        })?;
        let (final_mask, _) = self.req(fixed("single_ring.final_mask"), anchor, parse_mask)?;
        Ok(SingleRingSpec {
            ingress,
            egress,
            capacity,
            slot: SlotGeometry { size, align },
            shards,
            ordering,
            shard_key,
            deps,
            final_mask,
        })
    }

    pub(super) fn decode_graph(&mut self, anchor: &Anchor) -> Result<LaneGraphSpec, KvError> {
        let (on_full, _) = self.req(Key::Fixed("lane_graph.on_full"), anchor, parse_on_full)?;

        let (count, at) = self.count(Table::Lane, anchor)?;
        let mut lanes = Vec::new();
        for i in 0..count {
            let key = |field| Key::Indexed(Table::Lane, i, field);
            lanes.push(LaneSpec {
                id: self.req(key("id"), &at, parse_u32)?.0,
                name: self.req(key("name"), &at, unescape)?.0,
                kind: self.req(key("kind"), &at, parse_lane_kind)?.0,
                capacity: self.req(key("capacity"), &at, parse_u32)?.0,
                gating: self.opt(key("gating"), unescape)?,
                on_full: self.req(key("on_full"), &at, parse_on_full)?.0,
                writer: self.req(key("writer"), &at, parse_lane_end)?.0,
                readers: self
                    .req(key("readers"), &at, |s| parse_list(s, parse_lane_end))?
                    .0,
            });
        }

        let (count, at) = self.count(Table::Role, anchor)?;
        let mut roles = Vec::new();
        for i in 0..count {
            let key = |field| Key::Indexed(Table::Role, i, field);
            roles.push(RoleSpec {
                id: self.req(key("id"), &at, parse_u32)?.0,
                name: self.req(key("name"), &at, unescape)?.0,
                kind: self.req(key("kind"), &at, parse_role_kind)?.0,
                stage: self.opt(key("stage"), parse_u32)?,
                inputs: self
                    .req(key("inputs"), &at, |s| parse_list(s, parse_u32))?
                    .0,
                outputs: self
                    .req(key("outputs"), &at, |s| parse_list(s, parse_u32))?
                    .0,
            });
        }

        let (count, at) = self.count(Table::Endpoint, anchor)?;
        let mut endpoints = Vec::new();
        for i in 0..count {
            let key = |field| Key::Indexed(Table::Endpoint, i, field);
            endpoints.push(EndpointSpec {
                id: self.req(key("id"), &at, parse_u32)?.0,
                name: self.req(key("name"), &at, unescape)?.0,
                direction: self.req(key("direction"), &at, parse_direction)?.0,
                lane: self.req(key("lane"), &at, parse_u32)?.0,
            });
        }

        Ok(LaneGraphSpec {
            on_full,
            lanes,
            roles,
            endpoints,
        })
    }
}
