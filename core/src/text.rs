//! Untrusted text kept to a size: what a plugin sends may be logged or stored only cut.

use std::borrow::Cow;

/// `text` cut to at most `max` bytes (on a character boundary), saying how much was cut.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let cut = (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    Cow::Owned(format!(
        "{}… ({} bytes cut)",
        &text[..cut],
        text.len() - cut
    ))
}

#[cfg(test)]
mod tests {
    use super::clip;

    fn check(text: &str, max: usize, expected: &str) {
        assert_eq!(clip(text, max), expected);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary_and_says_so() {
        check("short", 5, "short");
        check("abcdef", 3, "abc… (3 bytes cut)");
        check("ééé", 3, "é… (4 bytes cut)");
    }
}
