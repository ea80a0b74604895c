//! gen-vectors: writes the protocol test vectors as `protocols/vectors/NAME.new.json` beside
//! the committed `NAME.json` files; it never overwrites them. Compare, then rename by hand.
//!
//! `cargo run -p privface-vectors --bin gen-vectors [-- DIR]` (DIR defaults to this workspace's
//! `protocols/vectors/`, wherever the command is run from).

use std::path::PathBuf;

use privface_vectors::{committed_dir, generate};

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(committed_dir);
    std::fs::create_dir_all(&dir)?;
    for (name, content) in generate() {
        let path = dir.join(name.replace(".json", ".new.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&content)? + "\n")?;
        let committed = dir.join(name);
        let same = std::fs::read_to_string(&committed)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            == Some(content);
        println!(
            "{}: {}",
            path.display(),
            if same {
                "identical to the committed file"
            } else {
                "DIFFERS from the committed file (or it is missing)"
            }
        );
    }
    Ok(())
}
