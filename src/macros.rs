//! Macros shared by the namespace modules.

/// The builder methods of a namespace's `SocketProperties`: `new()` (no property set) and a
/// setter per listed field that stores `Some(value)`. Both namespaces' dictionaries share
/// `name` and `persistent`; `tcp` adds `buffer_size`.
macro_rules! property_setters {
    ($($field:ident($arg:ident: $ty:ty) = $value:expr),* $(,)?) => {
        /// No properties set.
        pub fn new() -> Self {
            Self::default()
        }

        $(
            #[doc = concat!("Sets `", stringify!($field), "`.")]
            pub fn $field(mut self, $arg: $ty) -> Self {
                self.$field = Some($value);
                self
            }
        )*
    };
}
