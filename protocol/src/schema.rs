//! The OpenAPI schemas of bounded values, built from [`limits`](crate::limits)
//! and [`text`](crate::text), so the document states the very numbers and
//! characters the coordinator enforces.
//!
//! utoipa's `max_length = …` attributes take only literals, so each bounded
//! kind of value is a marker type here whose schema is built from the
//! constants, and a field names it with `#[schema(value_type = …)]` (query
//! parameters with `#[param(value_type = …, inline)]`). A client generated from
//! `/api/openapi.json` sees them as named types (`Tag`, `LabelList`, ...).
//!
//! Lengths: JSON Schema's `maxLength` counts characters, the coordinator
//! counts bytes of UTF-8. `maxLength` is set to the byte limit, which no
//! acceptable value exceeds, and `x-max-bytes` states the byte limit itself;
//! for ASCII text the two agree.

use utoipa::ToSchema;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};

use crate::limits::*;
use crate::text;

/// Schemas a component needs in the document, as `ToSchema::schemas` takes them.
type Schemas = Vec<(String, RefOr<Schema>)>;

/// A string of `min..=max_bytes` bytes of UTF-8 matching `pattern`.
fn string(min: usize, max_bytes: usize, pattern: Option<String>, description: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .min_length((min > 0).then_some(min))
        .max_length(Some(max_bytes))
        .pattern(pattern)
        .description(Some(description))
        .extensions(Some(
            ExtensionsBuilder::new()
                .add("x-max-bytes", max_bytes)
                .build(),
        ))
        .into()
}

/// An integer in `min..=max`.
fn integer(min: i64, max: Option<i64>, format: KnownFormat, description: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Integer))
        .format(Some(SchemaFormat::KnownFormat(format)))
        .minimum(Some(min))
        .maximum(max)
        .description(Some(description))
        .into()
}

/// A list of `min..=max` items of the component `T`.
pub(crate) fn list<T: ToSchema>(min: usize, max: usize, description: &str) -> Schema {
    ArrayBuilder::new()
        .items(Ref::from_schema_name(T::name()))
        .min_items((min > 0).then_some(min))
        .max_items(Some(max))
        .description(Some(description))
        .into()
}

/// Adds component `T` and those it refers to.
pub(crate) fn add<T: ToSchema>(schemas: &mut Schemas) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

/// Declares a marker type whose schema `build` makes, naming the components
/// it refers to. Used here and beside the types a list schema refers to.
macro_rules! bounded {
    ($(#[$doc:meta])* $name:ident => $build:expr $(; refers to $($child:ty),+)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::RefOr::T($build)
            }
        }

        impl ::utoipa::ToSchema for $name {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }

            #[allow(unused_variables)]
            fn schemas(
                schemas: &mut ::std::vec::Vec<(
                    ::std::string::String,
                    ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema>,
                )>,
            ) {
                $($($crate::schema::add::<$child>(schemas);)+)?
            }
        }
    };
}
pub(crate) use bounded;

bounded!(
    /// A tag: 1 to [`MAX_TAG_BYTES`] ASCII letters, digits and `- _ . : / = + @`.
    Tag => string(1, MAX_TAG_BYTES, Some(text::tag_pattern()),
        "ASCII letters, digits and - _ . : / = + @")
);

bounded!(
    /// At most [`MAX_TAGS`] tags.
    TagList => list::<Tag>(0, MAX_TAGS, "Tags; duplicates count once"); refers to Tag
);

bounded!(
    /// A label: 1 to [`MAX_LABEL_BYTES`] bytes of visible text.
    Label => string(1, MAX_LABEL_BYTES, Some(text::visible_text_pattern()),
        "Text without control, format (bidi, zero-width) or other invisible characters")
);

bounded!(
    /// At most [`MAX_LABELS`] labels.
    LabelList => list::<Label>(0, MAX_LABELS, "Labels; duplicates count once"); refers to Label
);

bounded!(
    /// A worker's name: 1 to [`MAX_WORKER_NAME_BYTES`] bytes of visible text.
    WorkerName => string(1, MAX_WORKER_NAME_BYTES, Some(text::visible_text_pattern()),
        "Text without control, format (bidi, zero-width) or other invisible characters")
);

bounded!(
    /// An agent's instance key: [`MIN_INSTANCE_KEY_BYTES`] to
    /// [`MAX_INSTANCE_KEY_BYTES`] ASCII letters, digits, `-` and `_`.
    InstanceKey => string(MIN_INSTANCE_KEY_BYTES, MAX_INSTANCE_KEY_BYTES,
        Some(text::instance_key_pattern()),
        "A secret the agent keeps; ASCII letters, digits, - and _")
);

bounded!(
    /// A principal's name: 1 to [`MAX_PRINCIPAL_NAME_BYTES`] ASCII letters,
    /// digits and `- _ . @`.
    PrincipalName => string(1, MAX_PRINCIPAL_NAME_BYTES, Some(text::principal_name_pattern()),
        "ASCII letters, digits and - _ . @; not `bootstrap-admin`")
);

bounded!(
    /// A token's label: 1 to [`MAX_TOKEN_LABEL_BYTES`] bytes of visible text.
    TokenLabel => string(1, MAX_TOKEN_LABEL_BYTES, Some(text::visible_text_pattern()),
        "Text without control, format (bidi, zero-width) or other invisible characters")
);

bounded!(
    /// An idempotency key: 1 to [`MAX_IDEMPOTENCY_KEY_BYTES`] bytes of visible text.
    IdempotencyKey => string(1, MAX_IDEMPOTENCY_KEY_BYTES, Some(text::visible_text_pattern()),
        "Text without control, format (bidi, zero-width) or other invisible characters")
);

bounded!(
    /// A working directory: 1 to [`MAX_WORKING_DIR_BYTES`] bytes without
    /// control characters.
    WorkingDir => string(1, MAX_WORKING_DIR_BYTES, Some(r"^[^\u0000-\u001F\u007F-\u009F]*$".into()),
        "A path on the worker, without control characters")
);

bounded!(
    /// A program and its arguments: 1 to [`MAX_ARGV`] strings without NUL,
    /// [`MAX_ARGV_BYTES`] in all, the first not empty.
    Argv => ArrayBuilder::new()
        .prefix_items([ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .min_length(Some(1))
            .pattern(Some(r"^[^\u0000]*$"))
            .description(Some("The program"))])
        .items(ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .pattern(Some(r"^[^\u0000]*$")))
        .min_items(Some(1))
        .max_items(Some(MAX_ARGV))
        .description(Some("Program and arguments; at most x-max-bytes bytes in all, no NUL"))
        .extensions(Some(ExtensionsBuilder::new().add("x-max-bytes", MAX_ARGV_BYTES).build()))
        .into()
);

bounded!(
    /// A task's extra environment: names non-empty, without `=` or control
    /// characters; values without NUL; [`MAX_ENV_BYTES`] in all.
    Environment => ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Object))
        .property_names(Some(ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .min_length(Some(1))
            .pattern(Some(r"^[^=\u0000-\u001F\u007F-\u009F]*$"))))
        .additional_properties(Some(ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .pattern(Some(r"^[^\u0000]*$"))))
        .description(Some("Variable names and values; at most x-max-bytes bytes in all"))
        .extensions(Some(ExtensionsBuilder::new().add("x-max-bytes", MAX_ENV_BYTES).build()))
        .into()
);

bounded!(
    /// A task's priority, [`MIN_PRIORITY`] to [`MAX_PRIORITY`].
    Priority => integer(i64::from(MIN_PRIORITY), Some(i64::from(MAX_PRIORITY)), KnownFormat::Int32,
        "Higher runs first")
);

bounded!(
    /// A task's timeout, 1 to [`MAX_TIMEOUT_SECS`] seconds.
    TimeoutSecs => integer(1, Some(MAX_TIMEOUT_SECS), KnownFormat::Int64, "Seconds")
);

bounded!(
    /// How many times a task may be tried, 1 to [`MAX_ATTEMPTS`].
    MaxAttempts => integer(1, Some(i64::from(MAX_ATTEMPTS)), KnownFormat::Int32, "Attempts in all")
);

bounded!(
    /// A worker's slots, 1 to [`MAX_SLOTS`].
    Slots => integer(1, Some(i64::from(MAX_SLOTS)), KnownFormat::Int32, "Tasks it runs at once")
);

bounded!(
    /// An attempt's number, from 1.
    AttemptNumber => integer(1, Some(i64::from(i32::MAX)), KnownFormat::Int32, "From 1")
);

bounded!(
    /// How many tasks one fetch may hand over, 1 to [`MAX_FETCH`].
    FetchCount => integer(1, Some(i64::from(MAX_FETCH)), KnownFormat::Int32, "Most tasks to hand over")
);

bounded!(
    /// How long a fetch may wait, 0 to [`MAX_FETCH_WAIT_SECS`] seconds.
    FetchWaitSecs => ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Number))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
        .minimum(Some(0.0))
        .maximum(Some(MAX_FETCH_WAIT_SECS))
        .description(Some("Seconds"))
        .into()
);

bounded!(
    /// A token's lifetime, 1 to [`MAX_TOKEN_LIFETIME_SECS`] seconds.
    TokenLifetimeSecs => integer(1, Some(MAX_TOKEN_LIFETIME_SECS), KnownFormat::Int64, "Seconds")
);

bounded!(
    /// The tail of a captured stream: at most [`OUTPUT_TAIL_BYTES`] bytes.
    OutputTail => string(0, OUTPUT_TAIL_BYTES, None,
        "The last bytes of the stream; NUL is stored as U+FFFD, and what that lengthens is cut from the front")
);

bounded!(
    /// What went wrong outside the process: at most [`MAX_ERROR_BYTES`] bytes.
    ErrorText => string(0, MAX_ERROR_BYTES, None,
        "NUL is stored as U+FFFD, and what that lengthens is cut from the end")
);

bounded!(
    /// A listing's cursor: pass `next_cursor` on as it came. (Today a task
    /// id; the pattern admits ids up to 18 digits, far beyond any real one.)
    Cursor => ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .pattern(Some("^[1-9][0-9]{0,17}$"))
        .description(Some("`next_cursor` of the previous page, as it came"))
        .into()
);

bounded!(
    /// The page size of a task listing, 1 to [`MAX_PAGE_SIZE`].
    PageSize => integer(1, Some(i64::from(MAX_PAGE_SIZE)), KnownFormat::Int32, "Tasks per page")
);

bounded!(
    /// A page number, from 1.
    PageNumber => integer(1, Some(i64::from(u32::MAX)), KnownFormat::Int64, "From 1")
);

bounded!(
    /// Workers on one page of `/stats`, 1 to [`MAX_STATS_PER_PAGE`].
    StatsPageSize => integer(1, Some(i64::from(MAX_STATS_PER_PAGE)), KnownFormat::Int32,
        "Workers per page")
);
