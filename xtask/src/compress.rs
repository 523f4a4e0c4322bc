//! Precompressed copies of the widget's files: `.gz` by Zopfli (plain gzip that any client decodes, ~5 %
//! smaller than zlib's level 9) and `.br` by brotli at quality 11. The API serves them by `Accept-Encoding`,
//! so the sizes the build reports are the bytes a buyer actually downloads.
//!
//! Zopfli takes seconds on the wasm, so results are cached under `target/widget/cache` by content hash: an
//! unchanged file is never recompressed.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::sh;

fn cache_path(bytes: &[u8], ext: &str) -> PathBuf {
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    sh::root().join(format!("target/widget/cache/{hex}.{ext}"))
}

fn cached(bytes: &[u8], ext: &str, compress: impl FnOnce(&[u8]) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
    let path = cache_path(bytes, ext);
    if let Ok(hit) = fs::read(&path) {
        return Ok(hit);
    }
    let out = compress(bytes)?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(&path, &out).with_context(|| format!("writing {}", path.display()))?;
    Ok(out)
}

/// gzip (RFC 1952) produced by Zopfli.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    cached(bytes, "gz", |bytes| {
        let mut out = Vec::new();
        zopfli::compress(zopfli::Options::default(), zopfli::Format::Gzip, bytes, &mut out)?;
        Ok(out)
    })
}

/// Brotli at quality 11, window 22 (what static-file servers precompress with).
pub fn brotli(bytes: &[u8]) -> Result<Vec<u8>> {
    cached(bytes, "br", |bytes| {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
            w.write_all(bytes)?;
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Read;

    use super::*;

    #[test]
    fn both_encodings_decode_to_the_input_and_gzip_beats_zlib() {
        let input: Vec<u8> = (0..2_000u32)
            .flat_map(|i| format!("row {} value {}\n", i % 97, i % 13).into_bytes())
            .collect();
        let gz = gzip(&input).unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, input);
        let mut zlib = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        zlib.write_all(&input).unwrap();
        assert!(gz.len() < zlib.finish().unwrap().len());

        let br = brotli(&input).unwrap();
        let mut back = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, input);
        // Second call is served from the cache, byte for byte.
        assert_eq!(gzip(&input).unwrap(), gz);
    }
}
