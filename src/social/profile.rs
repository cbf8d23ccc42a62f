//! A student's profile as values: the nickname and the few words a student shows the class,
//! the rules each field must meet, and the trading figures read from the ledger. Pure: no
//! database, no HTTP.

use crate::domain::time::Timestamp;
use std::sync::Arc;

/// Nickname length in characters, after trimming: long enough to tell people apart, short
/// enough to fit a leaderboard row on a phone.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=20;
/// What the app shows for a student who never chose a name; nobody may take it, so it never
/// names one student in particular.
pub const DEFAULT_USERNAME: &str = "Trader";
/// A few sentences, as on the app's profile screen.
pub const MAX_BIO_CHARS: usize = 280;
/// Generous for an image link; longer ones are pasted by mistake.
pub const MAX_AVATAR_URL_CHARS: usize = 512;
/// The longest address SMTP carries (RFC 5321).
pub const MAX_EMAIL_CHARS: usize = 254;

/// What a student has set; a field never set is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub username: Option<Arc<str>>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub email: Option<String>,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// The fields of one `PUT`: a field left out (`None`) stays as it is; an empty `bio`,
/// `avatar_url` or `email` removes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfileChange {
    pub username: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error(
        "username must be {} to {} characters long (spaces around it are ignored)",
        USERNAME_CHARS.start(),
        USERNAME_CHARS.end()
    )]
    UsernameLength,
    #[error("username may contain only letters a-z and A-Z, digits, '_', '.' and '-'")]
    UsernameCharacters,
    #[error("username must start with a letter or a digit")]
    UsernameStart,
    #[error(
        "usernames \"{DEFAULT_USERNAME}\" and \"{DEFAULT_USERNAME}-...\" are reserved: they name students who chose none"
    )]
    UsernameReserved,
    #[error("bio must be at most {MAX_BIO_CHARS} characters")]
    BioLength,
    #[error("bio may not contain control characters other than line breaks and tabs")]
    BioCharacters,
    #[error("avatar_url must be at most {MAX_AVATAR_URL_CHARS} characters")]
    AvatarLength,
    #[error("avatar_url must be an http:// or https:// address with a host name and no spaces")]
    AvatarShape,
    #[error("email must be at most {MAX_EMAIL_CHARS} characters")]
    EmailLength,
    #[error("email must look like name@example.com")]
    EmailShape,
}

/// The key under which nicknames are unique: case does not tell two students apart.
pub fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// A valid nickname, trimmed, or the rule it breaks.
pub fn check_username(raw: &str) -> Result<&str, RuleError> {
    let name = raw.trim();
    if !USERNAME_CHARS.contains(&name.chars().count()) {
        return Err(RuleError::UsernameLength);
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(RuleError::UsernameCharacters);
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(RuleError::UsernameStart);
    }
    let lower = name.to_ascii_lowercase();
    if lower == DEFAULT_USERNAME.to_ascii_lowercase() || lower.starts_with("trader-") {
        return Err(RuleError::UsernameReserved);
    }
    Ok(name)
}

fn check_bio(raw: &str) -> Result<&str, RuleError> {
    let bio = raw.trim();
    if bio.chars().count() > MAX_BIO_CHARS {
        return Err(RuleError::BioLength);
    }
    if bio.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(RuleError::BioCharacters);
    }
    Ok(bio)
}

fn check_avatar_url(raw: &str) -> Result<&str, RuleError> {
    let url = raw.trim();
    if url.chars().count() > MAX_AVATAR_URL_CHARS {
        return Err(RuleError::AvatarLength);
    }
    let lower = url.to_ascii_lowercase();
    let rest =
        lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")).ok_or(RuleError::AvatarShape)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    let named = host.split(':').next().is_some_and(|h| !h.is_empty() && !h.starts_with('.'));
    if !named || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RuleError::AvatarShape);
    }
    Ok(url)
}

fn check_email(raw: &str) -> Result<&str, RuleError> {
    let email = raw.trim();
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(RuleError::EmailLength);
    }
    let shaped = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.split('.').count() >= 2
            && domain.split('.').all(|label| !label.is_empty())
    });
    if !shaped || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RuleError::EmailShape);
    }
    Ok(email)
}

/// An optional field after a change: left out keeps it, empty removes it, anything else is
/// checked.
fn changed(
    current: &Option<String>,
    sent: &Option<String>,
    check: fn(&str) -> Result<&str, RuleError>,
) -> Result<Option<String>, RuleError> {
    match sent.as_deref() {
        None => Ok(current.clone()),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => check(text).map(|ok| Some(ok.to_string())),
    }
}

impl Profile {
    /// The profile after `change`, every field checked; `updated_at` moves to `now` only when
    /// something actually changed. Uniqueness of the nickname is the caller's to check.
    pub fn with(&self, change: &ProfileChange, now: Timestamp) -> Result<Profile, RuleError> {
        let username = match change.username.as_deref() {
            None => self.username.clone(),
            Some(raw) => {
                let name = check_username(raw)?;
                match &self.username {
                    Some(same) if **same == *name => Some(same.clone()),
                    _ => Some(Arc::from(name)),
                }
            }
        };
        let next = Profile {
            username,
            bio: changed(&self.bio, &change.bio, check_bio)?,
            avatar_url: changed(&self.avatar_url, &change.avatar_url, check_avatar_url)?,
            email: changed(&self.email, &change.email, check_email)?,
            updated_at: self.updated_at,
        };
        Ok(if next == *self { next } else { Profile { updated_at: now, ..next } })
    }
}

/// A student's trading as the ledger records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TradeStats {
    /// Filled orders.
    pub trades: i64,
    /// Closed round trips: sells, each closing part or all of a position.
    pub round_trips: i64,
    /// Round trips whose proceeds exceeded the average cost of what they closed.
    pub wins: i64,
    /// The latest order placed, changed, canceled or filled.
    pub last_order_at: Option<Timestamp>,
}

impl TradeStats {
    /// The share of closed round trips with a gain, from 0 to 1 (0 before the first sell),
    /// to four decimals.
    pub fn win_rate(&self) -> f64 {
        if self.round_trips == 0 {
            return 0.0;
        }
        (self.wins as f64 / self.round_trips as f64 * 10_000.0).round() / 10_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(username: Option<&str>, bio: Option<&str>, avatar: Option<&str>, email: Option<&str>) -> ProfileChange {
        ProfileChange {
            username: username.map(String::from),
            bio: bio.map(String::from),
            avatar_url: avatar.map(String::from),
            email: email.map(String::from),
        }
    }

    #[test]
    fn a_nickname_is_trimmed_and_kept_in_its_own_case() {
        assert_eq!(check_username("  Ada_Lovelace.1-x "), Ok("Ada_Lovelace.1-x"));
        assert_eq!(username_key("Ada_Lovelace"), "ada_lovelace");
    }

    #[test]
    fn nicknames_that_break_a_rule_are_refused_with_that_rule() {
        assert_eq!(check_username("ab"), Err(RuleError::UsernameLength));
        assert_eq!(check_username(&"a".repeat(21)), Err(RuleError::UsernameLength));
        assert_eq!(check_username("   "), Err(RuleError::UsernameLength));
        assert_eq!(check_username("bob smith"), Err(RuleError::UsernameCharacters));
        assert_eq!(check_username("zoë"), Err(RuleError::UsernameCharacters));
        assert_eq!(check_username("_bob"), Err(RuleError::UsernameStart));
        assert_eq!(check_username("TRADER"), Err(RuleError::UsernameReserved));
        assert_eq!(check_username("trader-1a2b3c"), Err(RuleError::UsernameReserved), "the anonymous names");
        assert!(check_username(&"a".repeat(20)).is_ok());
    }

    #[test]
    fn avatars_must_be_web_addresses_with_a_host() {
        assert_eq!(check_avatar_url(" https://img.example.com/a.png "), Ok("https://img.example.com/a.png"));
        assert!(check_avatar_url("http://localhost:8000/me.png").is_ok());
        for bad in ["ftp://x.org/a.png", "https:///a.png", "javascript:alert(1)", "https://a b.com/", "example.com"] {
            assert_eq!(check_avatar_url(bad), Err(RuleError::AvatarShape), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_AVATAR_URL_CHARS));
        assert_eq!(check_avatar_url(&long), Err(RuleError::AvatarLength));
    }

    #[test]
    fn emails_need_a_name_an_at_sign_and_a_dotted_domain() {
        assert_eq!(check_email("ada@school.edu"), Ok("ada@school.edu"));
        for bad in ["ada", "@school.edu", "ada@school", "ada@@school.edu", "ada@school..edu", "a da@school.edu"] {
            assert_eq!(check_email(bad), Err(RuleError::EmailShape), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(MAX_EMAIL_CHARS));
        assert_eq!(check_email(&long), Err(RuleError::EmailLength));
    }

    #[test]
    fn a_bio_is_bounded_and_free_of_control_characters() {
        assert_eq!(check_bio("Index funds.\nLong term."), Ok("Index funds.\nLong term."));
        assert_eq!(check_bio(&"b".repeat(MAX_BIO_CHARS + 1)), Err(RuleError::BioLength));
        assert_eq!(check_bio("bell\u{7}"), Err(RuleError::BioCharacters));
    }

    #[test]
    fn a_change_touches_only_the_fields_sent_and_empty_ones_remove() {
        let start = Profile::default()
            .with(&change(Some("ada"), Some("hi"), Some("https://x.org/a.png"), Some("a@b.co")), Timestamp(5))
            .unwrap();
        assert_eq!(start.updated_at, Timestamp(5));
        let next = start.with(&change(None, Some(""), None, None), Timestamp(9)).unwrap();
        assert_eq!(next.username.as_deref(), Some("ada"));
        assert_eq!(next.bio, None);
        assert_eq!(next.avatar_url.as_deref(), Some("https://x.org/a.png"));
        assert_eq!(next.email.as_deref(), Some("a@b.co"));
        assert_eq!(next.updated_at, Timestamp(9));
        assert_eq!(start.with(&change(Some(" ada "), None, None, None), Timestamp(9)).unwrap(), start);
        assert_eq!(start.with(&change(Some(""), None, None, None), Timestamp(9)), Err(RuleError::UsernameLength));
    }

    #[test]
    fn the_win_rate_is_the_share_of_round_trips_with_a_gain() {
        assert_eq!(TradeStats::default().win_rate(), 0.0);
        let stats = TradeStats { trades: 5, round_trips: 3, wins: 2, last_order_at: None };
        assert_eq!(stats.win_rate(), 0.6667);
    }
}
