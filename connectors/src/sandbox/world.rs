//! The simulated world the sandboxes share: customer companies and their
//! people, and the team of the company using Nexwatt ("Brightline"). Drawn
//! from a seed, so every sandbox built with one seed sees the same
//! customers (a QuickBooks customer is also a HubSpot contact and a Stripe
//! customer).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// A customer company.
#[derive(Debug, Clone)]
pub(crate) struct Company {
    pub name: String,
    pub domain: String,
}

/// A person at a customer company.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub first: String,
    pub last: String,
    pub email: String,
    pub phone: String,
    /// Index into [`World::companies`].
    pub company: usize,
}

impl Person {
    /// First and last name.
    pub(crate) fn name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
}

/// A member of the Brightline team (record owners, Slack users).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member {
    pub first: &'static str,
    pub last: &'static str,
    pub title: &'static str,
    pub handle: &'static str,
}

impl Member {
    /// First and last name.
    pub(crate) fn name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }

    /// Work email.
    pub(crate) fn email(&self) -> String {
        format!(
            "{}.{}@brightline.io",
            self.first.to_lowercase(),
            self.last.to_lowercase()
        )
    }
}

const fn member(
    first: &'static str,
    last: &'static str,
    title: &'static str,
    handle: &'static str,
) -> Member {
    Member {
        first,
        last,
        title,
        handle,
    }
}

/// The Brightline team, fixed (the first one owns the manifests' example
/// records).
pub(crate) const TEAM: &[Member] = &[
    member("Dana", "Brooks", "Account Executive", "DBROOKS"),
    member("Priya", "Nair", "Account Executive", "PNAIR"),
    member("Marcus", "Lee", "Sales Manager", "MLEE"),
    member("Sofia", "Alvarez", "Customer Success Lead", "SALVAREZ"),
    member("Sam", "Patel", "Support Engineer", "SPATEL"),
    member("Grace", "Okafor", "Finance Manager", "GOKAFOR"),
];

const COMPANY_WORDS: &[&str] = &[
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Vandelay",
    "Stark",
    "Wayne",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Pied Piper",
    "Wonka",
    "Tyrell",
    "Massive",
    "Oscorp",
    "Gringotts",
    "Aperture",
    "Monarch",
    "Sterling",
    "Bluth",
];
const COMPANY_KINDS: &[&str] = &[
    "Traders",
    "Industries",
    "Analytics",
    "Foods",
    "Logistics",
    "Labs",
    "Outfitters",
    "Health",
    "Media",
    "Energy",
    "Robotics",
    "Supply",
];
const FIRST: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Mia", "Lucas", "Zoe", "Mateo", "Chloe",
    "Arjun", "Hana", "Kenji", "Amara", "Diego", "Ingrid", "Tomas", "Layla", "Yusuf", "Elena",
    "Felix", "Nora", "Omar",
];
const LAST: &[&str] = &[
    "Johnson", "Garcia", "Kim", "Novak", "Haddad", "Schmidt", "Rossi", "Tanaka", "Osei",
    "Kowalski", "Silva", "Dubois", "Larsen", "Moreau", "Reyes", "Singh", "Weber", "Costa",
    "Ibrahim", "Fischer",
];

/// The customers of one seed.
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub companies: Vec<Company>,
    pub people: Vec<Person>,
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}

impl World {
    /// The world of `seed`: 12 companies and 24 people.
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x005e_ed0f_4e78_7761);
        let mut names: Vec<String> = Vec::new();
        while names.len() < 12 {
            let word = COMPANY_WORDS
                .choose(&mut rng)
                .copied()
                .unwrap_or("Northwind");
            let kind = COMPANY_KINDS.choose(&mut rng).copied().unwrap_or("Traders");
            let name = format!("{word} {kind}");
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let companies: Vec<Company> = names
            .into_iter()
            .map(|name| Company {
                domain: format!("{}.com", slug(&name)),
                name,
            })
            .collect();
        let mut people = Vec::new();
        let mut used = Vec::new();
        while people.len() < 24 {
            let first = FIRST.choose(&mut rng).copied().unwrap_or("Olivia");
            let last = LAST.choose(&mut rng).copied().unwrap_or("Johnson");
            if used.contains(&(first, last)) {
                continue;
            }
            used.push((first, last));
            let company = people.len() % companies.len();
            let domain = companies
                .get(company)
                .map_or("example.com", |c| c.domain.as_str());
            people.push(Person {
                first: first.to_string(),
                last: last.to_string(),
                email: format!("{}.{}@{domain}", first.to_lowercase(), last.to_lowercase()),
                phone: format!(
                    "+1{}555{:04}",
                    rng.gen_range(201..990),
                    rng.gen_range(100..9999)
                ),
                company,
            });
        }
        Self { companies, people }
    }

    /// The company of `person`.
    pub(crate) fn company_of(&self, person: &Person) -> &str {
        self.companies
            .get(person.company)
            .map_or("Unknown", |c| c.name.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn emails(w: &World) -> Vec<String> {
        w.people.iter().map(|p| p.email.clone()).collect()
    }

    #[test]
    fn same_seed_same_world() {
        let a = World::new(7);
        assert_eq!(emails(&a), emails(&World::new(7)));
        assert_ne!(emails(&a), emails(&World::new(8)));
        assert_eq!(a.companies.len(), 12);
        assert_eq!(a.people.len(), 24);
    }
}
