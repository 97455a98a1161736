//! Filesystem adapter of the artifact store, used by the local all-in-one server: each object is
//! a file under a root directory, at the path its key names.
//!
//! Writes are atomic: the content goes to a temporary file in the target directory, is flushed
//! to disk and then renamed over the target, so a reader or a crash never sees half an object.
//! Temporary files carry a `~` in their name, which no valid key contains, so they never show
//! up in [`Blobs::list`]. Signed URLs are Herald's own links ([`LinkSigner`]) to the HTTP
//! layer's `/blobs/{key}` route, which checks them before the file is served.
//!
//! One filesystem limit shows through: a key cannot be both an object and a "directory" of
//! other keys (`a` and `a/b`); storing the second fails with [`BlobError::Io`].

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{BlobError, BlobMeta, Blobs, LinkSigner, is_valid_segment, sha256_hex, validate_key};

/// Size of the buffer `put_file` copies through.
const COPY_BUFFER: usize = 64 * 1024;

/// How often `put` retries when a concurrent delete removed the (empty) target directory
/// between creating it and creating the temporary file in it.
const CREATE_ATTEMPTS: usize = 3;

/// Artifact store on the local filesystem.
#[derive(Clone)]
pub struct FsBlobs {
    root: PathBuf,
    links: LinkSigner,
}

impl fmt::Debug for FsBlobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FsBlobs").field("root", &self.root).field("links", &self.links).finish()
    }
}

impl FsBlobs {
    /// A store keeping objects under `root` (created on first write). Signed URLs start with
    /// `public_base_url` (for example `http://127.0.0.1:8080`) and are signed with
    /// `signing_key`, which should be at least 32 random bytes kept secret by the server.
    pub fn new(root: impl Into<PathBuf>, public_base_url: String, signing_key: Vec<u8>) -> Self {
        Self { root: root.into(), links: LinkSigner::new(signing_key, Some(public_base_url)) }
    }

    /// The directory objects are stored under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The signer of this store's links (the check behind `GET /blobs/{key}?expires=…&signature=…`).
    pub fn links(&self) -> &LinkSigner {
        &self.links
    }

    /// The file of a valid key.
    fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }
}

#[async_trait]
impl Blobs for FsBlobs {
    async fn put(&self, key: &str, body: Bytes, _content_type: &str) -> Result<BlobMeta, BlobError> {
        let path = self.path_of(key)?;
        let meta = BlobMeta { size: body.len() as u64, sha256: sha256_hex(&body) };
        blocking(move || write_atomically(&path, |file| file.write_all(&body))).await?;
        Ok(meta)
    }

    async fn put_file(&self, key: &str, path: &Path, _content_type: &str) -> Result<BlobMeta, BlobError> {
        let target = self.path_of(key)?;
        let source = path.to_owned();
        blocking(move || {
            let mut source = File::open(&source)?;
            write_atomically(&target, |file| copy_hashing(&mut source, file))
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::read(&path).await {
            Ok(data) => Ok(Bytes::from(data)),
            Err(err) if is_missing(&err) => Err(BlobError::NotFound(key.to_owned())),
            Err(err) => Err(err.into()),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path_of(key)?;
        let root = self.root.clone();
        blocking(move || {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if is_missing(&err) => return Ok(()),
                Err(err) => return Err(err),
            }
            remove_empty_parents(&root, &path);
            Ok(())
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        // Walk only the deepest directory the prefix names in full; the rest of the prefix
        // (possibly half a segment) filters what is found there.
        let dir = match prefix.rfind('/') {
            None => String::new(),
            Some(slash) => {
                let dir = &prefix[..slash];
                if validate_key(dir).is_err() {
                    // No valid key lies under an invalid directory.
                    return Ok(Vec::new());
                }
                dir.to_owned()
            }
        };
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        blocking(move || {
            let mut keys = Vec::new();
            let start = if dir.is_empty() { root } else { root.join(&dir) };
            walk(&start, &dir, &prefix, &mut keys)?;
            keys.sort_unstable();
            Ok(keys)
        })
        .await
    }

    async fn signed_url(&self, key: &str, ttl: Duration, now: DateTime<Utc>) -> Result<String, BlobError> {
        self.links.sign(key, ttl, now)
    }
}

/// Runs blocking filesystem work off the async runtime.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> io::Result<T> + Send + 'static) -> Result<T, BlobError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(BlobError::from),
        Err(join) => Err(BlobError::Backend(format!("filesystem task failed: {join}"))),
    }
}

/// Whether an I/O error means "no object there": the file, or a directory on its path, is
/// missing, or the path names a directory rather than an object.
fn is_missing(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::IsADirectory)
}

/// Writes `target` through a temporary sibling: `fill` writes the content, which is then
/// flushed to disk and renamed over `target`. On any failure the temporary file is removed and
/// `target` is left as it was.
fn write_atomically<T>(target: &Path, fill: impl FnOnce(&mut File) -> io::Result<T>) -> io::Result<T> {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return Err(io::Error::new(ErrorKind::InvalidInput, "blob path has no file name"));
    };
    let temp = dir.join(format!(".{}.~{:016x}.tmp", name.to_string_lossy(), rand::random::<u64>()));
    let mut file = create_in_dir(dir, &temp)?;
    let guard = TempFile(Some(temp.clone()));
    let filled = fill(&mut file)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, target)?;
    guard.disarm();
    sync_dir(dir);
    Ok(filled)
}

/// Creates `dir` (and its parents) and a new file at `temp` inside it, retrying when a
/// concurrent delete removed the emptied directory in between.
fn create_in_dir(dir: &Path, temp: &Path) -> io::Result<File> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        std::fs::create_dir_all(dir)?;
        match OpenOptions::new().write(true).create_new(true).open(temp) {
            Err(err) if err.kind() == ErrorKind::NotFound && attempt < CREATE_ATTEMPTS => {}
            result => return result,
        }
    }
}

/// Flushes a directory entry change (the rename) to disk; best effort, as not every platform
/// can open a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Removes the wrapped temporary file when dropped, unless disarmed.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Copies `source` into `target` in fixed-size chunks, hashing on the way.
fn copy_hashing(source: &mut impl Read, target: &mut impl Write) -> io::Result<BlobMeta> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; COPY_BUFFER];
    let mut size = 0u64;
    loop {
        let read = match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        let chunk = &buffer[..read];
        hasher.update(chunk);
        target.write_all(chunk)?;
        size += read as u64;
    }
    Ok(BlobMeta { size, sha256: hex::encode(hasher.finalize()) })
}

/// Removes the now-empty directories between a deleted file and the root (best effort: a
/// directory that is not empty, or was already removed, stops the climb).
fn remove_empty_parents(root: &Path, deleted: &Path) {
    let mut dir = deleted.parent();
    while let Some(current) = dir {
        if current == root || !current.starts_with(root) || std::fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
}

/// Collects into `keys` the keys starting with `prefix` in `dir`, whose key is `dir_key` (empty
/// for the root), descending only into directories that can hold such keys. Entries whose names
/// are not valid key segments (temporary files, foreign files) are skipped, and so are symlinks.
fn walk(dir: &Path, dir_key: &str, prefix: &str, keys: &mut Vec<String>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if is_missing(&err) => return Ok(()),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|name| is_valid_segment(name)) else {
            continue;
        };
        let key = if dir_key.is_empty() { name.to_owned() } else { format!("{dir_key}/{name}") };
        let file_type = match entry.file_type() {
            Ok(file_type) => file_type,
            Err(err) if is_missing(&err) => continue,
            Err(err) => return Err(err),
        };
        if file_type.is_dir() {
            let as_dir = format!("{key}/");
            if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                walk(&entry.path(), &key, prefix, keys)?;
            }
        } else if file_type.is_file() && key.starts_with(prefix) {
            keys.push(key);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> FsBlobs {
        FsBlobs::new(dir, "http://localhost:8080/".into(), b"secret".to_vec())
    }

    fn files_under(dir: &Path) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                found.extend(files_under(&entry.path()));
            } else {
                found.push(entry.path().display().to_string());
            }
        }
        found
    }

    #[tokio::test]
    async fn writes_leave_no_temporary_files_behind() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(dir.path());
        blobs.put("a/b.txt", Bytes::from_static(b"one"), "text/plain").await.unwrap();
        blobs.put("a/b.txt", Bytes::from_static(b"two"), "text/plain").await.unwrap();
        let source = dir.path().join("source.bin");
        std::fs::write(&source, b"three").unwrap();
        blobs.put_file("a/c.bin", &source, "application/octet-stream").await.unwrap();

        let mut files = files_under(&dir.path().join("a"));
        files.sort();
        let expected = ["a/b.txt", "a/c.bin"].map(|key| dir.path().join(key).display().to_string());
        assert_eq!(files, expected);
    }

    #[tokio::test]
    async fn list_ignores_temporary_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(dir.path());
        blobs.put("runs/r1.pdf", Bytes::from_static(b"pdf"), "application/pdf").await.unwrap();
        std::fs::write(dir.path().join("runs/.r2.pdf.~0123456789abcdef.tmp"), b"half").unwrap();
        std::fs::write(dir.path().join("runs/with space"), b"x").unwrap();

        assert_eq!(blobs.list("runs/").await.unwrap(), ["runs/r1.pdf"]);
        assert_eq!(blobs.list("").await.unwrap(), ["runs/r1.pdf"]);
    }

    #[tokio::test]
    async fn deleting_the_last_object_of_a_directory_removes_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(dir.path());
        blobs.put("ws/run/a.csv", Bytes::from_static(b"a"), "text/csv").await.unwrap();
        blobs.put("ws/b.csv", Bytes::from_static(b"b"), "text/csv").await.unwrap();

        blobs.delete("ws/run/a.csv").await.unwrap();

        assert!(!dir.path().join("ws/run").exists());
        assert!(dir.path().join("ws/b.csv").exists());
        blobs.put("ws/run/a.csv", Bytes::from_static(b"a"), "text/csv").await.unwrap();
        assert_eq!(blobs.get("ws/run/a.csv").await.unwrap(), Bytes::from_static(b"a"));
    }

    #[tokio::test]
    async fn a_missing_root_reads_as_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(&dir.path().join("not-yet"));
        assert_eq!(blobs.list("").await.unwrap(), Vec::<String>::new());
        assert!(matches!(blobs.get("a").await, Err(BlobError::NotFound(_))));
        blobs.delete("a").await.unwrap();
    }

    #[tokio::test]
    async fn signed_urls_use_the_public_base_url_without_a_double_slash() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(dir.path());
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let url = blobs.signed_url("a/b.pdf", Duration::from_secs(60), now).await.unwrap();
        assert!(url.starts_with("http://localhost:8080/blobs/a/b.pdf?expires=1700000060&signature="), "{url}");
    }

    #[test]
    fn debug_output_hides_the_signing_key() {
        let blobs = FsBlobs::new("/tmp/x", String::new(), b"top-secret".to_vec());
        assert!(!format!("{blobs:?}").contains("top-secret"));
    }
}
