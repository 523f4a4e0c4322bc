//! Where the widget's files come from: `TRANCHE_WIDGET_DIR` when set (front-end work against a running
//! server), else the build embedded in the binary (`build.rs`; what `cargo xtask dist` and the container
//! ship), else `target/widget/dist` on disk (a development binary built before the widget was).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/widget_files.rs"));
}

/// One source for every widget file a request may ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WidgetFiles {
    Dir(PathBuf),
    Embedded,
}

impl WidgetFiles {
    /// The source this process serves from (see the module header for the order).
    pub fn current() -> WidgetFiles {
        if let Ok(dir) = std::env::var("TRANCHE_WIDGET_DIR") {
            return WidgetFiles::Dir(PathBuf::from(dir));
        }
        if has_embedded() {
            return WidgetFiles::Embedded;
        }
        let local = PathBuf::from("target/widget/dist");
        if local.exists() {
            return WidgetFiles::Dir(local);
        }
        WidgetFiles::Dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/widget/dist"))
    }

    /// The bytes of `name` (a plain file name; callers check it is one path segment), if present.
    pub async fn read(&self, name: &str) -> Option<Cow<'static, [u8]>> {
        match self {
            WidgetFiles::Dir(dir) => tokio::fs::read(dir.join(name)).await.ok().map(Cow::Owned),
            WidgetFiles::Embedded => embedded::FILES
                .iter()
                .find(|(file, _)| *file == name)
                .map(|(_, bytes)| Cow::Borrowed(*bytes)),
        }
    }

    /// `manifest.json` as text (names, sizes and SRI hashes of the build).
    pub fn manifest(&self) -> Option<String> {
        match self {
            WidgetFiles::Dir(dir) => std::fs::read_to_string(dir.join("manifest.json")).ok(),
            WidgetFiles::Embedded => embedded::FILES
                .iter()
                .find(|(file, _)| *file == "manifest.json")
                .and_then(|(_, bytes)| String::from_utf8(bytes.to_vec()).ok()),
        }
    }
}

/// Whether this binary was built with the widget inside.
pub fn has_embedded() -> bool {
    embedded::FILES.iter().any(|(name, _)| *name == "manifest.json")
}
