//! The import formats: `.npy` float32 matrices with an id list, CSV and JSON lines. Each reader
//! returns every record or the first error; nothing reaches the store until the whole file
//! parsed.

use std::path::Path;

use crate::{GalleryError, Record, Result};

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|error| GalleryError::Read {
        path: path.display().to_string(),
        error,
    })
}

fn format_err(path: &str, reason: impl Into<String>) -> GalleryError {
    GalleryError::Format {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Reads a `.npy` float32 matrix (little-endian `<f4`, C order, shape (n, d)) and an id list
/// (one id per line, n lines) into records; labels are empty.
pub fn read_npy(npy: &Path, ids: &Path) -> Result<Vec<Record>> {
    let (npy_name, ids_name) = (npy.display().to_string(), ids.display().to_string());
    parse_npy(&npy_name, &read(npy)?, &ids_name, &read(ids)?)
}

/// [`read_npy`] on bytes already read; the names are for error messages.
pub fn parse_npy(npy: &str, bytes: &[u8], ids: &str, id_bytes: &[u8]) -> Result<Vec<Record>> {
    let (dims, values) = parse_f32_npy(npy, bytes)?;
    let [n, d] = dims[..] else {
        return Err(format_err(npy, "shape must be (n, d)"));
    };
    let ids_text = std::str::from_utf8(id_bytes).map_err(|_| format_err(ids, "not UTF-8"))?;
    let id_list: Vec<&str> = ids_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if id_list.len() != n {
        return Err(format_err(
            ids,
            format!("{} ids for {n} matrix rows", id_list.len()),
        ));
    }
    Ok(id_list
        .iter()
        .zip(values.chunks_exact(d.max(1)))
        .map(|(id, row)| Record {
            id: id.to_string(),
            label: String::new(),
            embedding: row.to_vec(),
        })
        .collect())
}

/// Reads a `.npy` float32 array of any shape (little-endian `<f4`, C order): its shape and
/// its values in C order.
pub fn read_f32_npy(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    parse_f32_npy(&path.display().to_string(), &read(path)?)
}

/// [`read_f32_npy`] on bytes already read; the name is for error messages.
pub fn parse_f32_npy(npy: &str, bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>)> {
    let bad = |why: &str| format_err(npy, why);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not an .npy file"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize,
            12,
        ),
        _ => return Err(bad("unsupported .npy version")),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + header_len)
            .ok_or_else(|| bad("truncated header"))?,
    )
    .map_err(|_| bad("header is not text"))?;
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.contains("'descr':'<f4'") {
        return Err(bad("dtype must be little-endian float32 ('<f4')"));
    }
    if !compact.contains("'fortran_order':False") {
        return Err(bad("Fortran order is not supported"));
    }
    let shape = compact
        .split("'shape':(")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad("bad shape")))
        .collect::<Result<_>>()?;
    let data = &bytes[start + header_len..];
    let want = dims
        .iter()
        .try_fold(4usize, |acc, &x| acc.checked_mul(x))
        .ok_or_else(|| bad(&format!("shape {dims:?} is too large")))?;
    if data.len() != want {
        return Err(bad(&format!(
            "{} data bytes for shape {dims:?}",
            data.len()
        )));
    }
    let values = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    Ok((dims, values))
}

/// Reads CSV records: `id,label,v0,…,v(d−1)` per line (no quoting; a first line starting with
/// `id,` is a header and skipped).
pub fn read_csv(path: &Path) -> Result<Vec<Record>> {
    parse_csv(&path.display().to_string(), &read(path)?)
}

/// [`read_csv`] on bytes already read; the name is for error messages.
pub fn parse_csv(path: &str, bytes: &[u8]) -> Result<Vec<Record>> {
    let text = std::str::from_utf8(bytes).map_err(|_| format_err(path, "not UTF-8"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || (i == 0 && line.starts_with("id,")) {
            continue;
        }
        let mut fields = line.split(',');
        let id = fields.next().unwrap_or_default().trim().to_owned();
        let label = fields
            .next()
            .ok_or_else(|| format_err(path, format!("line {}: no label", i + 1)))?
            .trim()
            .to_owned();
        let embedding = fields
            .map(|f| {
                f.trim()
                    .parse::<f32>()
                    .map_err(|_| format_err(path, format!("line {}: `{f}` is not a number", i + 1)))
            })
            .collect::<Result<_>>()?;
        out.push(Record {
            id,
            label,
            embedding,
        });
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
struct JsonRecord {
    id: String,
    #[serde(default)]
    label: String,
    embedding: Vec<f32>,
}

/// Reads JSON-lines records: `{"id": …, "label": …, "embedding": […]}` per line.
pub fn read_jsonl(path: &Path) -> Result<Vec<Record>> {
    parse_jsonl(&path.display().to_string(), &read(path)?)
}

/// [`read_jsonl`] on bytes already read; the name is for error messages.
pub fn parse_jsonl(path: &str, bytes: &[u8]) -> Result<Vec<Record>> {
    let text = std::str::from_utf8(bytes).map_err(|_| format_err(path, "not UTF-8"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let r: JsonRecord = serde_json::from_str(l)
                .map_err(|e| format_err(path, format!("line {}: {e}", i + 1)))?;
            Ok(Record {
                id: r.id,
                label: r.label,
                embedding: r.embedding,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_formats() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        // .npy: shape (2, 3), float32.
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let mut padded = header.to_string();
        while !(10 + padded.len() + 1).is_multiple_of(64) {
            padded.push(' ');
        }
        padded.push('\n');
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend((padded.len() as u16).to_le_bytes());
        npy.extend(padded.as_bytes());
        for v in [1.0f32, 0.0, 0.0, 0.0, 1.0, 0.5] {
            npy.extend(v.to_le_bytes());
        }
        std::fs::write(p("m.npy"), &npy).unwrap();
        std::fs::write(p("ids.txt"), "alice\nbob\n").unwrap();
        let r = read_npy(&p("m.npy"), &p("ids.txt")).unwrap();
        assert_eq!(
            r[1],
            Record {
                id: "bob".into(),
                label: String::new(),
                embedding: vec![0.0, 1.0, 0.5]
            }
        );
        std::fs::write(p("ids.txt"), "alice\n").unwrap();
        assert!(read_npy(&p("m.npy"), &p("ids.txt")).is_err());
        std::fs::write(p("bad.npy"), &npy[..npy.len() - 1]).unwrap();
        assert!(read_npy(&p("bad.npy"), &p("ids.txt")).is_err());
        // CSV with header, JSON lines.
        std::fs::write(p("g.csv"), "id,label,v0,v1,v2\nc,Carol,0.1,0.2,0.3\n").unwrap();
        assert_eq!(
            read_csv(&p("g.csv")).unwrap()[0].embedding,
            vec![0.1, 0.2, 0.3]
        );
        std::fs::write(p("bad.csv"), "c,Carol,0.1,zz,0.3\n").unwrap();
        assert!(read_csv(&p("bad.csv")).is_err());
        std::fs::write(
            p("g.jsonl"),
            "{\"id\":\"d\",\"label\":\"Dan\",\"embedding\":[0,1,0]}\n",
        )
        .unwrap();
        assert_eq!(read_jsonl(&p("g.jsonl")).unwrap()[0].id, "d");
        std::fs::write(p("bad.jsonl"), "{\"id\":\"d\"}\n").unwrap();
        assert!(read_jsonl(&p("bad.jsonl")).is_err());
    }

    #[test]
    fn an_npy_shape_that_overflows_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let header =
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }\n";
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend((header.len() as u16).to_le_bytes());
        npy.extend(header.as_bytes());
        npy.extend([0u8; 32]);
        std::fs::write(dir.path().join("big.npy"), &npy).unwrap();
        std::fs::write(dir.path().join("ids.txt"), "a\n").unwrap();
        let err = read_npy(&dir.path().join("big.npy"), &dir.path().join("ids.txt")).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
    }
}
