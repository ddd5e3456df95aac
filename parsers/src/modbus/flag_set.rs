//! A small bit set of named violation flags, shared by the OT parsers in this
//! crate (Modbus, GE SRTP, GE EGD, SLMP, MELSOFT, CC-Link IE Field Basic).
//!
//! A protocol violation is not a parse error: the message is still returned,
//! with one flag per violation, so the detector sees both the message and what
//! was wrong with it. The set is a `u32`, never allocates, and can name its
//! members for EVE output.

/// Declares a `Copy` flag set over a `u32` with one named constant per bit.
macro_rules! flag_set {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                const $flag:ident = $bit:literal, $label:literal;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        $vis struct $name(u32);

        impl $name {
            $(
                $(#[$fmeta])*
                pub const $flag: $name = $name(1 << $bit);
            )*

            /// Every flag with its EVE name, in bit order.
            pub const ALL: &'static [($name, &'static str)] = &[$(($name(1 << $bit), $label),)*];

            /// The empty set.
            pub const fn empty() -> Self {
                $name(0)
            }

            /// The raw bits.
            pub const fn bits(self) -> u32 {
                self.0
            }

            /// True when no flag is set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            /// True when every flag of `other` is set in `self`.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// True when `self` and `other` share a flag.
            pub const fn intersects(self, other: Self) -> bool {
                self.0 & other.0 != 0
            }

            /// Both sets together (a `const` form of `|`).
            pub const fn union(self, other: Self) -> Self {
                $name(self.0 | other.0)
            }

            /// Adds the flags of `other`.
            pub fn insert(&mut self, other: Self) {
                self.0 |= other.0;
            }

            /// Adds the flags of `other` when `condition` holds.
            pub fn set_if(&mut self, other: Self, condition: bool) {
                if condition {
                    self.0 |= other.0;
                }
            }

            /// The EVE names of the flags that are set, in bit order.
            pub fn names(self) -> impl Iterator<Item = &'static str> {
                Self::ALL.iter().filter(move |(f, _)| self.contains(*f)).map(|(_, n)| *n)
            }
        }

        impl core::ops::BitOr for $name {
            type Output = $name;
            fn bitor(self, rhs: $name) -> $name {
                $name(self.0 | rhs.0)
            }
        }

        impl core::ops::BitOrAssign for $name {
            fn bitor_assign(&mut self, rhs: $name) {
                self.0 |= rhs.0;
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                let mut first = true;
                for n in self.names() {
                    if !first {
                        f.write_str(" | ")?;
                    }
                    f.write_str(n)?;
                    first = false;
                }
                f.write_str(")")
            }
        }
    };
}

pub(crate) use flag_set;
