//! Profiles and nicknames: the service behind the app's social routes, and the directory the
//! rest of the server asks for a student's nickname ([`Profiles::nickname`]).
//!
//! Every profile is held in memory, loaded at start-up, so a nickname lookup is a map read
//! (a leaderboard shows one per row). Changes are applied one at a time under the writer's
//! lock: the uniqueness check, the database write and the update of the map happen together,
//! so two students can never both take one nickname. A change is stored before it is shown.

pub mod profile;

use crate::domain::time::{Clock, Timestamp};
use crate::storage::{StorageError, Store, profiles::save_profile};
use crate::trading::{MAX_UID_LEN, validate_uid};
use duckdb::Connection;
use profile::{Profile, ProfileChange, RuleError, TradeStats, check_username, username_key};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The app shows this text as it is.
    #[error("Username already taken")]
    UsernameTaken,
    #[error("{0}")]
    Rule(#[from] RuleError),
    #[error("firebase_uid must be 1 to {MAX_UID_LEN} characters")]
    BadUid,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A profile as the routes show it: what the student set (if anything) and their trading.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileCard {
    pub profile: Option<Arc<Profile>>,
    pub stats: TradeStats,
}

impl ProfileCard {
    /// The later of the last order activity and the last profile change.
    pub fn last_activity(&self) -> Option<Timestamp> {
        let changed = self.profile.as_ref().map(|p| p.updated_at);
        self.stats.last_order_at.max(changed)
    }
}

/// Whether a nickname may be taken, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available,
    Taken,
    Invalid(RuleError),
}

#[derive(Default)]
struct Directory {
    by_uid: HashMap<String, Arc<Profile>>,
    /// Nickname key (see [`username_key`]) to the uid that holds it.
    owners: HashMap<String, String>,
}

impl Directory {
    fn insert(&mut self, uid: &str, profile: Arc<Profile>) {
        if let Some(old) = self.by_uid.get(uid).and_then(|p| p.username.clone()) {
            self.owners.remove(&username_key(&old));
        }
        if let Some(name) = &profile.username {
            self.owners.insert(username_key(name), uid.to_string());
        }
        self.by_uid.insert(uid.to_string(), profile);
    }

    fn owner(&self, name: &str) -> Option<&str> {
        self.owners.get(&username_key(name)).map(String::as_str)
    }
}

pub struct Profiles {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    /// The one connection that writes profiles; its lock also orders changes.
    writer: Mutex<Connection>,
    directory: RwLock<Directory>,
}

impl Profiles {
    /// Loads every stored profile.
    pub fn load(store: Arc<Store>, clock: Arc<dyn Clock>) -> Result<Profiles, StorageError> {
        let mut directory = Directory::default();
        for (uid, profile) in store.load_profiles()? {
            directory.insert(&uid, Arc::new(profile));
        }
        let writer = Mutex::new(store.profile_connection()?);
        Ok(Profiles { store, clock, writer, directory: RwLock::new(directory) })
    }

    /// The student's nickname, if they chose one. Never the uid: callers show it or a neutral
    /// default.
    pub fn nickname(&self, uid: &str) -> Option<Arc<str>> {
        self.directory.read().expect("profiles").by_uid.get(uid)?.username.clone()
    }

    /// What the student has set, if anything.
    pub fn profile(&self, uid: &str) -> Option<Arc<Profile>> {
        self.directory.read().expect("profiles").by_uid.get(uid).cloned()
    }

    /// Students with a stored profile.
    pub fn len(&self) -> usize {
        self.directory.read().expect("profiles").by_uid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `name` could be taken, by `asker` if given (a student's own nickname is
    /// available to them, in any case).
    pub fn availability(&self, name: &str, asker: Option<&str>) -> Availability {
        let name = match check_username(name) {
            Ok(name) => name,
            Err(rule) => return Availability::Invalid(rule),
        };
        match self.directory.read().expect("profiles").owner(name) {
            Some(owner) if Some(owner) != asker => Availability::Taken,
            _ => Availability::Available,
        }
    }

    /// The profile and trading figures of `uid`; a student never seen reads as the defaults
    /// and is not registered. Blocking (a database read).
    pub fn card(&self, uid: &str) -> Result<ProfileCard, ProfileError> {
        validate_uid(uid).map_err(|_| ProfileError::BadUid)?;
        Ok(ProfileCard { profile: self.profile(uid), stats: self.store.trade_stats(uid)? })
    }

    /// Applies a change: only the fields sent, each checked, the nickname unique in the class.
    /// Blocking (a database write).
    pub fn update(&self, uid: &str, change: &ProfileChange) -> Result<Arc<Profile>, ProfileError> {
        validate_uid(uid).map_err(|_| ProfileError::BadUid)?;
        let writer = self.writer.lock().expect("profile writer");
        let current = self.profile(uid);
        let before = current.as_deref().cloned().unwrap_or_default();
        let next = before.with(change, self.clock.now())?;
        if next == before {
            return Ok(current.unwrap_or_else(|| Arc::new(before)));
        }
        if let Some(name) = &next.username
            && self.directory.read().expect("profiles").owner(name).is_some_and(|owner| owner != uid)
        {
            return Err(ProfileError::UsernameTaken);
        }
        save_profile(&writer, uid, &next)?;
        let next = Arc::new(next);
        self.directory.write().expect("profiles").insert(uid, next.clone());
        Ok(next)
    }
}
