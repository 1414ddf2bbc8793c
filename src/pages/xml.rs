//! XML bodies indented for reading. Only for display: a tag per line,
//! text kept as is; malformed input is shown as it came.

/// `text` with one element per line, indented by depth; `None` when it
/// does not look like XML.
pub fn indent(text: &str) -> Option<String> {
    let trimmed = text.trim();
    if !trimmed.starts_with('<') || !trimmed.ends_with('>') {
        return None;
    }
    let tokens = tokenize(trimmed)?;
    let mut out = String::with_capacity(trimmed.len() + trimmed.len() / 4);
    let mut depth: usize = 0;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        if token.starts_with("</") {
            depth = depth.saturating_sub(1);
            push_line(&mut out, depth, token);
        } else if token.starts_with('<') {
            let opens =
                !token.ends_with("/>") && !token.starts_with("<?") && !token.starts_with("<!");
            // `<a>text</a>` stays on one line.
            if opens {
                if let (Some(text), Some(close)) = (tokens.get(i + 1), tokens.get(i + 2)) {
                    if !text.starts_with('<') && close.starts_with("</") {
                        push_line(&mut out, depth, &format!("{token}{text}{close}"));
                        i += 3;
                        continue;
                    }
                }
            }
            push_line(&mut out, depth, token);
            if opens {
                depth += 1;
            }
        } else {
            push_line(&mut out, depth, token);
        }
        i += 1;
    }
    Some(out)
}

fn push_line(out: &mut String, depth: usize, line: &str) {
    for _ in 0..depth.min(40) {
        out.push_str("  ");
    }
    out.push_str(line);
    out.push('\n');
}

/// Tags (with comments and CDATA whole) and the trimmed text between them.
fn tokenize(text: &str) -> Option<Vec<&str>> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if rest.starts_with('<') {
            let end = if rest.starts_with("<!--") {
                rest.find("-->")? + 3
            } else if rest.starts_with("<![CDATA[") {
                rest.find("]]>")? + 3
            } else {
                rest.find('>')? + 1
            };
            tokens.push(&rest[..end]);
            rest = &rest[end..];
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let piece = rest[..end].trim();
            if !piece.is_empty() {
                tokens.push(piece);
            }
            rest = &rest[end..];
        }
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nests_elements_and_keeps_short_ones_on_a_line() {
        let pretty = indent("<?xml version=\"1.0\"?><a><b>1</b><c/><d><e>x</e></d></a>");
        assert_eq!(
            pretty.as_deref(),
            Some("<?xml version=\"1.0\"?>\n<a>\n  <b>1</b>\n  <c/>\n  <d>\n    <e>x</e>\n  </d>\n</a>\n")
        );
        assert_eq!(indent("plain text"), None);
    }
}
