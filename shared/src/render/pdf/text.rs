//! Line breaking and fitting: greedy word wrap (over-long words are broken between
//! characters), and shortening a line with an ellipsis.

use std::borrow::Cow;

use super::fonts::{FontSet, Weight, char_width, text_width};

/// How text is set: font set, weight and size.
#[derive(Debug, Clone, Copy)]
pub(super) struct Style {
    pub fonts: FontSet,
    pub weight: Weight,
    pub size: f32,
}

impl Style {
    pub(super) fn width(&self, text: &str) -> f32 {
        text_width(self.fonts, self.weight, self.size, text)
    }

    fn char_width(&self, c: char) -> f32 {
        char_width(self.fonts, self.weight, self.size, c)
    }

    /// `text` cut to fit `max` points, ending in an ellipsis when it was cut.
    pub(super) fn fit<'a>(&self, text: &'a str, max: f32) -> Cow<'a, str> {
        if self.width(text) <= max {
            return Cow::Borrowed(text);
        }
        let budget = max - self.char_width('…');
        let mut used = 0.0;
        let mut end = 0;
        for (i, c) in text.char_indices() {
            used += self.char_width(c);
            if used > budget {
                break;
            }
            end = i + c.len_utf8();
        }
        if budget <= 0.0 {
            return Cow::Borrowed("");
        }
        Cow::Owned(format!("{}…", text[..end].trim_end()))
    }

    /// `text` broken into lines no wider than `max` points: greedy by words (runs of spaces
    /// collapse), words wider than a line broken between characters, `\n` forcing a break. At most `max_lines`
    /// lines; when the text needs more, the last one ends in an ellipsis.
    pub(super) fn wrap(&self, text: &str, max: f32, max_lines: usize) -> Vec<String> {
        let max_lines = max_lines.max(1);
        let plain = !text.contains('\n') && !text.contains("  ") && !text.starts_with(' ') && !text.ends_with(' ');
        if plain && self.width(text) <= max {
            // Fits as it is: the common case for table cells.
            return vec![text.to_owned()];
        }
        let space = self.char_width(' ');
        let mut lines: Vec<String> = Vec::new();
        let mut truncated = false;
        'paragraphs: for paragraph in text.split('\n') {
            let mut line = String::new();
            let mut line_width = 0.0;
            // Lines break at spaces only: a no-break space keeps "1 234,50 €" together.
            for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
                let word_width = self.width(word);
                if !line.is_empty() && line_width + space + word_width <= max {
                    line.push(' ');
                    line.push_str(word);
                    line_width += space + word_width;
                    continue;
                }
                if !line.is_empty() {
                    if lines.len() + 1 >= max_lines {
                        lines.push(line);
                        truncated = true;
                        break 'paragraphs;
                    }
                    lines.push(std::mem::take(&mut line));
                }
                if word_width <= max {
                    line.push_str(word);
                    line_width = word_width;
                    continue;
                }
                // A word wider than the line: break it between characters.
                line_width = 0.0;
                for c in word.chars() {
                    let w = self.char_width(c);
                    if !line.is_empty() && line_width + w > max {
                        if lines.len() + 1 >= max_lines {
                            lines.push(line);
                            truncated = true;
                            break 'paragraphs;
                        }
                        lines.push(std::mem::take(&mut line));
                        line_width = 0.0;
                    }
                    line.push(c);
                    line_width += w;
                }
            }
            if lines.len() >= max_lines {
                truncated = true;
                break;
            }
            lines.push(line);
        }
        if truncated && let Some(last) = lines.last_mut() {
            let mut text = std::mem::take(last);
            text.push('…');
            *last = self.fit(&text, max).into_owned();
        }
        // Blank lines at the end (a trailing newline) carry nothing.
        while lines.len() > 1 && lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        if lines.is_empty() {
            lines.push(String::new());
        }
        lines
    }
}

/// `text` with control characters (tabs, line breaks) turned into spaces.
pub(super) fn single_line(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// `text` with line breaks kept as `\n` and other control characters turned into spaces.
pub(super) fn multi_line(text: &str) -> String {
    text.replace("\r\n", "\n").chars().map(|c| if c.is_control() && c != '\n' { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style() -> Style {
        Style { fonts: FontSet::Standard, weight: Weight::Regular, size: 10.0 }
    }

    #[test]
    fn wrapping_fills_lines_greedily_by_words() {
        let s = style();
        let lines = s.wrap("the quick brown fox jumps over the lazy dog", s.width("the quick brown"), 10);
        assert_eq!(lines, ["the quick brown", "fox jumps over", "the lazy dog"]);
        assert!(lines.iter().all(|l| s.width(l) <= s.width("the quick brown")));
    }

    #[test]
    fn over_long_words_are_broken_and_extra_lines_end_in_an_ellipsis() {
        let s = style();
        let lines = s.wrap(&"x".repeat(100), 50.0, 100);
        assert!(lines.len() > 5);
        assert_eq!(lines.concat(), "x".repeat(100));
        let cut = s.wrap("one two three four five six seven eight", 40.0, 2);
        assert_eq!(cut.len(), 2);
        assert!(cut[1].ends_with('…'), "{cut:?}");
        assert!(s.width(&cut[1]) <= 40.0);
    }

    #[test]
    fn fitting_shortens_with_an_ellipsis_and_never_overflows() {
        let s = style();
        assert_eq!(s.fit("short", 100.0), "short");
        let fitted = s.fit("a rather long customer name", 60.0);
        assert!(fitted.ends_with('…') && s.width(&fitted) <= 60.0, "{fitted}");
        assert_eq!(s.fit("anything", 1.0), "");
    }

    #[test]
    fn degenerate_widths_and_empty_text_do_not_loop_or_panic() {
        let s = style();
        assert_eq!(s.wrap("", 100.0, 3), [""]);
        assert_eq!(s.wrap("abc", 0.0, 0).len(), 1);
        assert_eq!(s.wrap("a\n\nb\n", 100.0, 10), ["a", "", "b"]);
        assert!(s.wrap("abc def", f32::NAN, 5).len() <= 5);
    }

    #[test]
    fn lines_break_at_spaces_but_not_at_no_break_spaces() {
        let s = style();
        let amount = "1\u{a0}234,50\u{a0}€";
        let lines = s.wrap(&format!("total  {amount}"), s.width(amount) + 1.0, 5);
        assert_eq!(lines, ["total", amount]);
    }
}
