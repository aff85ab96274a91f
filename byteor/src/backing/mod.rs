//! Ring storage behind one trait: in-process memory now, shared memory later.
