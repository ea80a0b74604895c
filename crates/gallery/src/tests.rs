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
