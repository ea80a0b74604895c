//! privface
pub use privface_he as he;
