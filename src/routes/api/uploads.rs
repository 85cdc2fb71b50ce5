//! Image uploads: only real images (checked by their bytes, not the name
//! or the declared type), each under a size limit, written under
//! `UPLOADS_DIR` with a generated name so no client text reaches the path.

use std::path::PathBuf;

use actix_multipart::Multipart;
use futures_util::TryStreamExt;

use crate::configuration::UploadSettings;
use crate::routes::ApiError;

pub struct SavedFile {
    pub path: PathBuf,
    /// Where the file is served: `/uploads/<name>`.
    pub url: String,
}

/// The image formats accepted, recognised by their leading bytes.
fn image_extension(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("png"),
        [0xFF, 0xD8, 0xFF, ..] => Some("jpg"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("webp"),
        _ => None,
    }
}

/// Reads every file field of the form and saves the images. On any error
/// the files already written by this request are removed.
pub async fn save_images(mut form: Multipart, settings: &UploadSettings) -> Result<Vec<SavedFile>, ApiError> {
    let mut saved = Vec::new();
    let result = async {
        while let Some(mut field) = form.try_next().await.map_err(bad_form)? {
            let is_file = field
                .content_disposition()
                .and_then(|disposition| disposition.get_filename())
                .is_some();
            if !is_file {
                continue; // plain text fields carry nothing we store
            }
            if saved.len() == settings.max_files {
                return Err(ApiError::BadRequest(format!(
                    "at most {} images per upload",
                    settings.max_files
                )));
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = field.try_next().await.map_err(bad_form)? {
                if bytes.len() + chunk.len() > settings.max_file_bytes {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "each image must be at most {} bytes",
                        settings.max_file_bytes
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            let extension = image_extension(&bytes).ok_or_else(|| {
                ApiError::UnsupportedMediaType("only PNG, JPEG, GIF and WebP images are accepted".to_owned())
            })?;
            let name = format!("{}.{extension}", uuid::Uuid::new_v4().simple());
            let path = settings.dir.join(&name);
            tokio::fs::create_dir_all(&settings.dir)
                .await
                .map_err(write_failed)?;
            tokio::fs::write(&path, &bytes).await.map_err(write_failed)?;
            saved.push(SavedFile {
                path,
                url: format!("/uploads/{name}"),
            });
        }
        if saved.is_empty() {
            return Err(ApiError::BadRequest(
                "send one or more image files as multipart/form-data (e.g. field \"thumbnails\")".to_owned(),
            ));
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(saved),
        Err(error) => {
            remove(&saved).await;
            Err(error)
        }
    }
}

/// Removes files written by a request that failed afterwards.
pub async fn remove(files: &[SavedFile]) {
    for file in files {
        if let Err(error) = tokio::fs::remove_file(&file.path).await {
            log::warn!("could not remove {}: {error}", file.path.display());
        }
    }
}

fn bad_form(error: actix_multipart::MultipartError) -> ApiError {
    ApiError::BadRequest(format!("invalid multipart form: {error}"))
}

fn write_failed(error: std::io::Error) -> ApiError {
    ApiError::Internal(format!("cannot write upload: {error}"))
}

#[cfg(test)]
mod tests {
    use super::image_extension;

    #[test]
    fn recognises_images_by_their_bytes() {
        assert_eq!(image_extension(b"\x89PNG\r\n\x1a\nrest"), Some("png"));
        assert_eq!(image_extension(b"GIF89a..."), Some("gif"));
        assert_eq!(image_extension(b"RIFF\0\0\0\0WEBPVP8 "), Some("webp"));
        assert_eq!(image_extension(b"<svg onload=alert(1)>"), None);
    }
}
