//! The two file operations every piece of alerting state uses: read a JSON
//! file (absent means the default) and replace a file atomically (write a
//! temporary file, fsync, rename), so a crash leaves the old or the new
//! content, never a mix.

use serde::de::DeserializeOwned;
use std::io::Write;
use std::path::Path;

/// The JSON value in `path`, or `T::default()` when there is no such file.
pub fn read_json_or_default<T: DeserializeOwned + Default>(path: &Path) -> Result<T, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Replaces `path` with `bytes` atomically (creating its directory).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

/// A value kept in memory and, when there is a file, in that JSON file: each
/// change is written atomically before it takes effect.
pub struct JsonStore<T> {
    path: Option<std::path::PathBuf>,
    value: std::sync::Mutex<T>,
}

impl<T: serde::Serialize + DeserializeOwned + Default + Clone> JsonStore<T> {
    /// The store kept in `path` (in memory only for `None`).
    pub fn open(path: Option<std::path::PathBuf>) -> Result<Self, String> {
        let value = match &path {
            Some(p) => read_json_or_default(p)?,
            None => T::default(),
        };
        Ok(Self {
            path,
            value: std::sync::Mutex::new(value),
        })
    }

    /// Reads the current value.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.value.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Applies `f` to a copy; when it succeeds the copy is written and
    /// becomes the value. An error of `f` (the inner result) or of the write
    /// (the outer one) leaves both untouched.
    pub fn change<R, E>(
        &self,
        f: impl FnOnce(&mut T) -> Result<R, E>,
    ) -> Result<Result<R, E>, String> {
        let mut value = self.value.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = value.clone();
        let result = match f(&mut next) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(path) = &self.path {
            let bytes = serde_json::to_vec_pretty(&next).map_err(|e| e.to_string())?;
            write_atomically(path, &bytes)?;
        }
        *value = next;
        Ok(Ok(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_files_read_as_default_and_writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("state.json");
        let empty: Vec<u32> = read_json_or_default(&path).unwrap();
        assert!(empty.is_empty());
        write_atomically(&path, b"[1,2]").unwrap();
        write_atomically(&path, b"[3]").unwrap();
        let read: Vec<u32> = read_json_or_default(&path).unwrap();
        assert_eq!(read, [3]);
        std::fs::write(&path, b"[oops").unwrap();
        assert!(read_json_or_default::<Vec<u32>>(&path)
            .unwrap_err()
            .contains("state.json"));
    }
}
