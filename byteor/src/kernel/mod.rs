//! The lock-free core: sequences, barriers, gating and wait strategies.
