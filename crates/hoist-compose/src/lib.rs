//! Compose files read exactly as Docker Compose reads them: YAML → ordered tree → interpolation →
//! merge → include → extends → profiles → typed model → normalisation. Reads files with `std::fs`
//! only; no async runtime, no network.
