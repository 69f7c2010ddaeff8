//! A room's members as its object keeps them: one entry per user, naming the connection (socket
//! id) that joined. A leave or a drop only removes the entry of the connection it is about, so a
//! late leave of a replaced connection never removes its successor.

use crate::strmap::StrMap;

use super::JoinReply;

/// Most members one room holds; a join past it is refused (and logged by the user's object).
pub const MAX_ROOM_MEMBERS: usize = 10_000;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Members {
    by_user: StrMap<String>,
}

/// What a change did, so the shell writes only what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    None,
    /// Store `user` -> `socket_id`.
    Put,
    /// Delete `user`.
    Delete,
}

impl Members {
    pub fn from_entries(entries: impl IntoIterator<Item = (String, String)>) -> Self {
        // Storage lists the entries in key order, so each insert appends.
        let mut by_user = StrMap::new();
        for (user, socket_id) in entries {
            by_user.insert(user, socket_id);
        }
        Members { by_user }
    }

    pub fn len(&self) -> usize {
        self.by_user.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_user.is_empty()
    }

    /// Every member and the connection that joined, for a fan-out.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        self.by_user
            .iter()
            .map(|(u, s)| (u.clone(), s.clone()))
            .collect()
    }

    /// `user`'s connection `socket_id` joins (replacing the user's older connection).
    pub fn join(&mut self, user: &str, socket_id: &str) -> (JoinReply, Change) {
        let full = self.by_user.len() >= MAX_ROOM_MEMBERS;
        match self.by_user.get_mut(user) {
            Some(s) if s == socket_id => (JoinReply::Joined, Change::None),
            Some(s) => {
                *s = socket_id.to_owned();
                (JoinReply::Joined, Change::Put)
            }
            None if full => (JoinReply::Full, Change::None),
            None => {
                self.by_user.insert(user.to_owned(), socket_id.to_owned());
                (JoinReply::Joined, Change::Put)
            }
        }
    }

    /// `user`'s connection `socket_id` leaves, or was found to be gone by a fan-out.
    pub fn leave(&mut self, user: &str, socket_id: &str) -> Change {
        if self.by_user.get(user).is_some_and(|s| s == socket_id) {
            self.by_user.remove(user);
            Change::Delete
        } else {
            Change::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_leave_of_a_replaced_connection_keeps_its_successor() {
        let mut m = Members::default();
        assert_eq!(m.join("u", "s1"), (JoinReply::Joined, Change::Put));
        assert_eq!(m.join("u", "s1"), (JoinReply::Joined, Change::None));
        assert_eq!(m.join("u", "s2"), (JoinReply::Joined, Change::Put));
        assert_eq!(m.leave("u", "s1"), Change::None);
        assert_eq!(m.snapshot(), vec![("u".to_string(), "s2".to_string())]);
        assert_eq!(m.leave("u", "s2"), Change::Delete);
        assert!(m.is_empty());
    }

    #[test]
    fn a_full_room_refuses_new_members_but_not_old_ones() {
        let mut m =
            Members::from_entries((0..MAX_ROOM_MEMBERS).map(|i| (format!("u{i}"), "s".into())));
        assert_eq!(m.join("new", "s"), (JoinReply::Full, Change::None));
        assert_eq!(m.join("u1", "s9"), (JoinReply::Joined, Change::Put));
        assert_eq!(m.len(), MAX_ROOM_MEMBERS);
    }
}
