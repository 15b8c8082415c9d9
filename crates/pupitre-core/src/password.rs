//! The password policy: a minimum length, not the login, not a common password.

/// Passwords refused whatever their length: the most common ones in public breach lists,
/// plus the obvious ones for an operations console.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789",
    "1234567890",
    "password",
    "password1",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword123",
    "qwerty",
    "qwertyuiop",
    "qwerty123456",
    "azerty",
    "azertyuiop",
    "azerty123456",
    "111111111111",
    "000000000000",
    "abc123456789",
    "iloveyou",
    "admin",
    "administrator",
    "admin123",
    "admin12345678",
    "administrateur",
    "changeme",
    "changeme123",
    "changemenow",
    "letmein",
    "letmein12345",
    "welcome",
    "welcome12345",
    "bienvenue",
    "bienvenue123",
    "motdepasse",
    "motdepasse123",
    "soleil123456",
    "monkey123456",
    "dragon123456",
    "football1234",
    "sunshine1234",
    "princess1234",
    "trustno1trustno1",
    "superman1234",
    "baseball1234",
    "starwars1234",
    "pupitre",
    "pupitre12345",
    "pupitre123456",
    "operator1234",
    "operateur123",
    "root",
    "toor",
    "rootroot1234",
    "supervision",
    "supervision1",
    "monitoring123",
    "production123",
    "exploitation",
    "astreinte123",
    "correcthorsebatterystaple",
];

/// The rules a new password must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> PasswordPolicy {
        PasswordPolicy { min_length: 12 }
    }
}

/// The longest password accepted (Argon2 input is bounded to keep hashing cheap).
pub const MAX_LENGTH: usize = 1024;

impl PasswordPolicy {
    /// Checks `password` for the account `login`; the error is a sentence for the user.
    pub fn check(&self, login: &str, password: &str) -> Result<(), String> {
        let len = password.chars().count();
        if len < self.min_length {
            return Err(format!(
                "must be at least {} characters long",
                self.min_length
            ));
        }
        if len > MAX_LENGTH {
            return Err(format!("must be at most {MAX_LENGTH} characters long"));
        }
        let lower = password.to_lowercase();
        if lower == login.to_lowercase() {
            return Err("must not be the login".to_owned());
        }
        if COMMON.contains(&lower.as_str()) {
            return Err("is too common; choose another".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_table() {
        let p = PasswordPolicy::default();
        let cases: &[(&str, &str, bool)] = &[
            ("alice", "short", false),
            ("alice.martin", "Alice.Martin", false),
            ("bob", "Password1234", false),
            ("bob", "correct-horse-battery", true),
            ("bob", "été à l'hôpital", true),
        ];
        for &(login, pw, ok) in cases {
            assert_eq!(p.check(login, pw).is_ok(), ok, "{login} / {pw}");
        }
    }
}
