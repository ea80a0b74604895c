//! The store: writes are atomic, reads return what was written, bad input is named.

use super::*;

fn rec(id: &str, e: Vec<f32>) -> Record {
    Record {
        id: id.into(),
        label: format!("label {id}"),
        embedding: e,
    }
}

#[test]
fn enrol_list_remove_count_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.sqlite");
    let mut g = Gallery::create(&path, 4).unwrap();
    g.enrol(&rec("b", vec![1.0, 0.0, 0.0, 0.0])).unwrap();
    g.enrol(&rec("a", vec![0.0, 2.0, 0.0, 0.0])).unwrap();
    assert!(matches!(
        g.enrol(&rec("a", vec![1.0; 4])),
        Err(GalleryError::Duplicate(_))
    ));
    assert_eq!(g.count().unwrap(), 2);
    assert_eq!(
        g.list()
            .unwrap()
            .iter()
            .map(|i| i.id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    drop(g);
    let mut g = Gallery::open(&path).unwrap();
    assert_eq!(g.dimension(), 4);
    let q = g.load_quantised().unwrap();
    assert_eq!(q.ids, ["a", "b"]);
    assert_eq!(
        q.row(0),
        g.quantiser().quantise(&[0.0, 1.0, 0.0, 0.0]).unwrap()
    );
    assert!(g.remove("a").unwrap());
    assert!(!g.remove("a").unwrap());
    assert_eq!(g.count().unwrap(), 1);
    assert!(Gallery::create(&path, 4).is_err());
    assert!(Gallery::open(&dir.path().join("none")).is_err());
}

#[test]
fn a_bad_record_mid_import_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gallery::create(&dir.path().join("g.sqlite"), 3).unwrap();
    g.enrol(&rec("keep", vec![1.0, 2.0, 3.0])).unwrap();
    for bad in [
        rec("x", vec![f32::NAN, 0.0, 0.0]),
        rec("x", vec![0.0; 3]),
        rec("x", vec![1.0; 4]),
        rec("keep", vec![1.0; 3]),
    ] {
        let records = vec![
            Ok(rec("n1", vec![1.0; 3])),
            Ok(bad),
            Ok(rec("n2", vec![2.0; 3])),
        ];
        let err = g.import(records).unwrap_err();
        assert!(
            matches!(
                err,
                GalleryError::Embedding { record: 2, .. } | GalleryError::Duplicate(_)
            ),
            "{err}"
        );
        assert_eq!(
            g.count().unwrap(),
            1,
            "nothing of a failed import is stored"
        );
    }
    assert_eq!(
        g.import(vec![
            Ok(rec("n1", vec![1.0; 3])),
            Ok(rec("n2", vec![2.0, 1.0, 0.0]))
        ])
        .unwrap(),
        2
    );
    assert_eq!(g.count().unwrap(), 3);
}

#[test]
fn a_gallery_quantised_at_another_scale_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.sqlite");
    drop(Gallery::create(&path, 4).unwrap());
    let other = 1.5f32;
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE meta SET value = ?1 WHERE key = 'scale_f32_bits'",
            params![other.to_bits() as i64],
        )
        .unwrap();
    let err = Gallery::open(&path).unwrap_err();
    assert!(
        matches!(err, GalleryError::ScaleChanged { dimension: 4, stored, .. } if stored == other),
        "{err}"
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let err = Gallery::create(&dir.path().join("z.sqlite"), 0).unwrap_err();
    assert!(matches!(err, GalleryError::Dimension(_)), "{err}");
    let mut g = Gallery::create(&dir.path().join("g.sqlite"), 3).unwrap();
    assert!(matches!(
        g.enrol(&rec(" ", vec![1.0; 3])),
        Err(GalleryError::EmptyId { record: 0 })
    ));
    let err = g.enrol(&rec("alice", vec![1.0; 4])).unwrap_err();
    assert!(err.to_string().starts_with("identity `alice`: "), "{err}");
    let err = g
        .import(vec![Ok(rec("a", vec![1.0; 3])), Ok(rec("b", vec![1.0; 2]))])
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("identity `b` (record 2 of the import): "),
        "{err}"
    );
}

#[test]
fn the_rows_file_follows_the_database_and_damage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.sqlite");
    let rows = rows_path(&path);
    let mut g = Gallery::create(&path, 4).unwrap();
    let records = |ids: &[&str]| -> Vec<Result<Record>> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| Ok(rec(id, vec![1.0, i as f32, 0.5, -2.0])))
            .collect()
    };
    g.import(records(&["c", "a", "b"])).unwrap();
    // The import wrote the file: identity order, the rows of the database.
    let (ids, file) = g.open_rows().unwrap();
    assert_eq!(ids, ["a", "b", "c"]);
    let want = g.load_quantised().unwrap();
    let mut got = vec![0i8; 3 * 4];
    privface_he::RowSource::read_rows(&file, 0, &mut got).unwrap();
    assert_eq!(got, want.rows);
    let mut one = vec![0i8; 4];
    privface_he::RowSource::read_rows(&file, 2, &mut one).unwrap();
    assert_eq!(one, want.row(2));
    assert!(privface_he::RowSource::read_rows(&file, 3, &mut one).is_err());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&rows).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "templates are owner-only");
    }
    let written = std::fs::read(&rows).unwrap();

    // An enrolment leaves the file behind (generation); opening for streaming rebuilds it.
    let generation = g.generation().unwrap();
    g.enrol(&rec("d", vec![0.0, 0.0, 1.0, 0.0])).unwrap();
    assert_eq!(g.generation().unwrap(), generation + 1);
    assert_eq!(
        std::fs::read(&rows).unwrap(),
        written,
        "not rewritten per enrolment"
    );
    let (ids, file) = g.open_rows().unwrap();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    assert_eq!(file.len(), 4);

    // A crash between the commit and the rename leaves the old file: rebuilt, not served.
    std::fs::write(&rows, &written).unwrap();
    let (ids, file) = g.open_rows().unwrap();
    assert_eq!((ids.len(), file.len()), (4, 4));
    // A missing file is rebuilt too.
    std::fs::remove_file(&rows).unwrap();
    assert_eq!(g.open_rows().unwrap().1.len(), 4);

    // A row byte changed after the write: the digest says so, and nothing is served.
    let mut bytes = std::fs::read(&rows).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&rows, &bytes).unwrap();
    let err = g.open_rows().unwrap_err();
    assert!(err.to_string().contains("digest"), "{err}");
    // A truncated file with a current header is damage as well.
    bytes.truncate(last);
    std::fs::write(&rows, &bytes).unwrap();
    let err = g.open_rows().unwrap_err();
    assert!(err.to_string().contains("expected"), "{err}");
    // A removal bumps the generation (the next open rebuilds the damaged file from the
    // database, which is the source of truth).
    assert!(g.remove("d").unwrap());
    assert!(!g.remove("d").unwrap());
    assert_eq!(g.generation().unwrap(), generation + 2);
    let (ids, _) = g.open_rows().unwrap();
    assert_eq!(ids, ["a", "b", "c"]);
}
