//! Just enough `multipart/form-data` for the transform upload form: text fields and
//! files, read from a body already bounded in size. (axum's own multipart support would
//! pull in another crate for one form.)

use std::collections::HashMap;

use super::session::Upload;

/// Why a multipart body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    #[error("the form has no multipart boundary")]
    NoBoundary,
    #[error("the form body is not valid multipart/form-data: {0}")]
    Malformed(&'static str),
}

type Parsed = (HashMap<String, String>, HashMap<String, Upload>);

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of `name="..."` in a `Content-Disposition` header.
fn disposition_param(line: &str, name: &str) -> Option<String> {
    let pattern = format!("{name}=\"");
    let start = line.find(&pattern)? + pattern.len();
    let rest = &line[start..];
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}

/// Splits a body into its text fields and files.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Parsed, MultipartError> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .find(|b| !b.is_empty())
        .ok_or(MultipartError::NoBoundary)?;
    let delimiter = format!("--{boundary}");
    let mut fields = HashMap::new();
    let mut files = HashMap::new();
    let mut rest = body;
    let first = find(rest, delimiter.as_bytes()).ok_or(MultipartError::Malformed("no part"))?;
    rest = &rest[first + delimiter.len()..];
    let next_delimiter = format!("\r\n--{boundary}");
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(MultipartError::Malformed(
            "a boundary is not followed by a line break",
        ))?;
        let head_end =
            find(rest, b"\r\n\r\n").ok_or(MultipartError::Malformed("a part has no headers"))?;
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let content = &rest[head_end + 4..];
        let end = find(content, next_delimiter.as_bytes())
            .ok_or(MultipartError::Malformed("a part is not closed"))?;
        let data = &content[..end];
        rest = &content[end + next_delimiter.len()..];
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .ok_or(MultipartError::Malformed(
                "a part has no Content-Disposition",
            ))?;
        let Some(name) = disposition_param(disposition, "name") else {
            continue;
        };
        match disposition_param(disposition, "filename") {
            Some(file_name) => {
                files.insert(
                    name,
                    Upload {
                        file_name,
                        bytes: data.to_vec(),
                    },
                );
            }
            None => {
                fields.insert(name, String::from_utf8_lossy(data).to_string());
            }
        }
    }
    Ok((fields, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.wasm\"\r\nContent-Type: application/wasm\r\n\r\n\0asm\r\n\x01\r\n--XyZ--\r\n";
        let (fields, files) = parse("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(fields["csrf"], "abc");
        assert_eq!(files["file"].file_name, "t.wasm");
        assert_eq!(files["file"].bytes, b"\0asm\r\n\x01");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse("multipart/form-data", b"x").is_err());
        assert!(parse("multipart/form-data; boundary=a", b"--a\r\nbroken").is_err());
        assert!(parse("multipart/form-data; boundary=a", b"").is_err());
    }
}
