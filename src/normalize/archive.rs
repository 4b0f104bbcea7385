//! SKELETON (helper: archive)
