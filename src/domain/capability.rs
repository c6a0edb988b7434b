//! Named capabilities and the built-in roles that bundle them.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Capability {
    #[serde(rename = "manage_exercises")]
    ManageExercises,
    #[serde(rename = "manage_noise_logs")]
    ManageNoiseLogs,
    #[serde(rename = "manage_api_keys")]
    ManageApiKeys,
    #[serde(rename = "admin.users")]
    AdminUsers,
    #[serde(rename = "admin.settings")]
    AdminSettings,
    #[serde(rename = "audit.read")]
    AuditRead,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::ManageExercises,
        Capability::ManageNoiseLogs,
        Capability::ManageApiKeys,
        Capability::AdminUsers,
        Capability::AdminSettings,
        Capability::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::ManageExercises => "manage_exercises",
            Capability::ManageNoiseLogs => "manage_noise_logs",
            Capability::ManageApiKeys => "manage_api_keys",
            Capability::AdminUsers => "admin.users",
            Capability::AdminSettings => "admin.settings",
            Capability::AuditRead => "audit.read",
        }
    }

    pub fn parse(s: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of capabilities: the union of a caller's roles in one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(u8);

impl CapSet {
    pub fn empty() -> CapSet {
        CapSet(0)
    }
    pub fn all() -> CapSet {
        Capability::ALL.into_iter().collect()
    }
    pub fn insert(&mut self, c: Capability) {
        self.0 |= c.bit();
    }
    pub fn contains(self, c: Capability) -> bool {
        self.0 & c.bit() != 0
    }
    pub fn union(self, o: CapSet) -> CapSet {
        CapSet(self.0 | o.0)
    }
    pub fn intersect(self, o: CapSet) -> CapSet {
        CapSet(self.0 & o.0)
    }
    /// True when every capability of `o` is in `self`.
    pub fn covers(self, o: CapSet) -> bool {
        o.0 & !self.0 == 0
    }
    /// The first capability of `o` that `self` lacks.
    pub fn first_missing(self, o: CapSet) -> Option<Capability> {
        Capability::ALL
            .into_iter()
            .find(|c| o.contains(*c) && !self.contains(*c))
    }
    /// `self` without the capabilities of `o`.
    pub fn without(self, o: CapSet) -> CapSet {
        CapSet(self.0 & !o.0)
    }
    pub fn names(self) -> Vec<&'static str> {
        Capability::ALL
            .into_iter()
            .filter(|c| self.contains(*c))
            .map(Capability::as_str)
            .collect()
    }
    /// Parses a list of names; `Err` carries the first unknown one.
    pub fn parse_names<S: AsRef<str>>(names: &[S]) -> Result<CapSet, String> {
        let mut set = CapSet::empty();
        for n in names {
            set.insert(Capability::parse(n.as_ref()).ok_or_else(|| n.as_ref().to_string())?);
        }
        Ok(set)
    }
}

impl FromIterator<Capability> for CapSet {
    fn from_iter<T: IntoIterator<Item = Capability>>(iter: T) -> Self {
        let mut s = CapSet::empty();
        for c in iter {
            s.insert(c);
        }
        s
    }
}

/// The built-in roles every tenant has; they cannot be changed or deleted.
pub fn builtin_roles() -> [(&'static str, CapSet); 4] {
    use Capability::*;
    [
        ("admin", CapSet::all()),
        (
            "operator",
            [ManageExercises, ManageNoiseLogs].into_iter().collect(),
        ),
        ("analyst", [AuditRead].into_iter().collect()),
        ("viewer", CapSet::empty()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_union_and_cover() {
        let op = builtin_roles()[1].1;
        let an = builtin_roles()[2].1;
        let both = op.union(an);
        assert!(both.contains(Capability::AuditRead));
        assert!(both.covers(op));
        assert!(!op.covers(both));
        assert_eq!(CapSet::all().names().len(), 6);
        assert_eq!(CapSet::parse_names(&["*"]), Err("*".to_string()));
    }
}
