//! What several of the REST APIs use, none of it owned by one of them: request bodies, paged
//! lists, `query=` searches of APIs, stored API rows read as APIs and API Products, their row
//! version as ETag and optimistic updates, the definition answer, throttling policies, gateway
//! environments, and stable ids and timestamps.

pub(crate) mod api_query;
pub(crate) mod api_rows;
pub(crate) mod body;
pub(crate) mod definition;
pub(crate) mod environments;
pub(crate) mod ids;
pub(crate) mod paging;
pub(crate) mod policies;
pub(crate) mod row_version;
pub(crate) mod time;
