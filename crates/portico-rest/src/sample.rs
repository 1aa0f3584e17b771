//! The PizzaShack sample service WSO2 ships on its management port
//! (`/am/sample/pizzashack/v1/api/`): a menu and an order book, so that the quick-start's first
//! API has a backend with no other process. Orders live in memory, bounded; nothing is stored.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;

/// Where the sample is served, as in WSO2.
pub const SAMPLE_BASE_PATH: &str = "/am/sample/pizzashack/v1/api";

/// Orders kept; the oldest is forgotten beyond this.
const MAX_ORDERS: usize = 1000;

const MENU: [(&str, &str, &str); 10] = [
    (
        "BBQ Chicken Bacon",
        "Grilled chicken, smoked bacon and red onion on a smoky barbecue base",
        "25.99",
    ),
    (
        "Chicken Parmesan",
        "Breaded chicken, parmesan and basil over a garlic tomato sauce",
        "21.99",
    ),
    (
        "Chilly Chicken Cordon Bleu",
        "Chicken, ham and swiss cheese with a hint of chilli",
        "23.49",
    ),
    (
        "Double Bacon 6Cheese",
        "Two layers of bacon under six melted cheeses",
        "26.99",
    ),
    (
        "Garden Fresh",
        "Peppers, mushrooms, olives, tomato and spinach on a light crust",
        "17.99",
    ),
    (
        "Grilled Chicken Club",
        "Grilled chicken, bacon, tomato and a creamy ranch drizzle",
        "22.99",
    ),
    (
        "Hawaiian BBQ Chicken",
        "Chicken, pineapple and bacon with barbecue sauce",
        "21.49",
    ),
    (
        "Spicy Italian",
        "Pepperoni, spicy sausage and jalapeños on a zesty tomato base",
        "20.99",
    ),
    (
        "Spinach Alfredo",
        "Spinach, garlic and mozzarella on a rich alfredo sauce",
        "19.49",
    ),
    (
        "Tuscan Six Cheese",
        "Six cheeses with roasted garlic and Italian herbs",
        "18.99",
    ),
];

/// An order as PizzaShack spells it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    #[serde(default)]
    order_id: String,
    #[serde(default)]
    pizza_type: String,
    #[serde(default)]
    quantity: i64,
    #[serde(default)]
    customer_name: String,
    #[serde(default)]
    credit_card_number: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    delivered: bool,
}

#[derive(Clone, Default)]
struct Orders(Arc<Mutex<VecDeque<Order>>>);

impl Orders {
    fn with<T>(&self, f: impl FnOnce(&mut VecDeque<Order>) -> T) -> T {
        // A poisoned lock only means a panic elsewhere; the orders are still usable.
        let mut guard = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

/// The sample's routes, to be nested at [`SAMPLE_BASE_PATH`].
pub(crate) fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/menu", get(menu))
        .route("/order", axum::routing::post(place_order))
        .route(
            "/order/{order_id}",
            get(get_order).put(update_order).delete(delete_order),
        )
        .with_state(Orders::default())
}

async fn menu() -> Json<Value> {
    Json(Value::Array(
        MENU.iter()
            .enumerate()
            .map(|(i, (name, description, price))| {
                json!({"name": name, "description": description, "price": price, "icon": format!("/images/{}.png", i + 1)})
            })
            .collect(),
    ))
}

fn parse_order(body: &[u8]) -> Result<Order, ApiError> {
    let order: Order = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the order is not valid JSON of PizzaShack's Order: {e}")))?;
    if order.pizza_type.trim().is_empty() {
        return Err(ApiError::bad_request("`pizzaType` is required"));
    }
    if !MENU.iter().any(|(name, _, _)| *name == order.pizza_type) {
        return Err(ApiError::bad_request(format!(
            "`pizzaType` `{}` is not on the menu",
            order.pizza_type
        )));
    }
    if order.quantity < 1 {
        return Err(ApiError::bad_request("`quantity` must be at least 1"));
    }
    Ok(order)
}

async fn place_order(
    State(orders): State<Orders>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let mut order = parse_order(&body)?;
    order.order_id = uuid::Uuid::new_v4().to_string();
    order.delivered = false;
    orders.with(|all| {
        if all.len() >= MAX_ORDERS {
            all.pop_front();
        }
        all.push_back(order.clone());
    });
    let mut response = (StatusCode::CREATED, Json(&order)).into_response();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    if let Ok(location) = HeaderValue::from_str(&format!("https://{host}{SAMPLE_BASE_PATH}/order/{}", order.order_id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn not_found(order_id: &str) -> ApiError {
    ApiError::not_found(format!("order `{order_id}` does not exist"))
}

async fn get_order(State(orders): State<Orders>, Path(order_id): Path<String>) -> Result<Json<Order>, ApiError> {
    orders
        .with(|all| all.iter().find(|o| o.order_id == order_id).cloned())
        .map(Json)
        .ok_or_else(|| not_found(&order_id))
}

async fn update_order(
    State(orders): State<Orders>,
    Path(order_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Order>, ApiError> {
    let mut update = parse_order(&body)?;
    update.order_id = order_id.clone();
    orders
        .with(|all| {
            let slot = all.iter_mut().find(|o| o.order_id == order_id)?;
            *slot = update.clone();
            Some(update)
        })
        .map(Json)
        .ok_or_else(|| not_found(&order_id))
}

async fn delete_order(State(orders): State<Orders>, Path(order_id): Path<String>) -> Result<StatusCode, ApiError> {
    let removed = orders.with(|all| {
        let before = all.len();
        all.retain(|o| o.order_id != order_id);
        before != all.len()
    });
    if removed {
        Ok(StatusCode::OK)
    } else {
        Err(not_found(&order_id))
    }
}
