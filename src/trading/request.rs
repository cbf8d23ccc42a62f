//! Reading an order request as the app sends it: names checked, numbers read exactly from
//! their JSON text, and the terms of orders beyond market gathered into an [`OrderSpec`].

use super::{TradeError, validate_uid};
use crate::domain::account::{CASH_DP, QUANTITY_DP, Refusal, Side, validate_quantity};
use crate::domain::instrument::{Region, Universe};
use crate::domain::number::{NumberError, parse_exact};
use crate::domain::orders::{OrderSpec, OrderType, TimeInForce, Trail};
use rust_decimal::Decimal;

/// Decimal places a trail percentage may have.
const PERCENT_DP: u32 = 4;

/// An order as the app sends it, before validation. Numbers are the JSON text as written, so
/// no precision is lost on the way to `Decimal`.
#[derive(Debug, Clone, Default)]
pub struct OrderRequest {
    pub firebase_uid: String,
    pub symbol: String,
    pub side: String,
    pub quantity: String,
    pub market: String,
    pub order_type: Option<String>,
    pub time_in_force: Option<String>,
    pub limit_price: Option<String>,
    pub stop_price: Option<String>,
    pub trail_price: Option<String>,
    pub trail_percent: Option<String>,
}

/// New terms for an open order (`PATCH`); what is absent stays as it was.
#[derive(Debug, Clone, Default)]
pub struct Replacement {
    pub quantity: Option<String>,
    pub time_in_force: Option<String>,
    pub limit_price: Option<String>,
    pub stop_price: Option<String>,
    pub trail_price: Option<String>,
    pub trail_percent: Option<String>,
}

/// A request that passed every check that needs no price.
pub(super) struct Checked {
    pub uid: String,
    pub instrument: usize,
    pub spec: OrderSpec,
}

fn market_of(name: &str) -> Result<Region, TradeError> {
    Region::parse(name).ok_or_else(|| TradeError::UnknownMarket(name.to_string()))
}

/// Reads a number field exactly; too many decimal places is its own refusal (422).
fn exact(field: &'static str, text: &str, places: u32) -> Result<Decimal, TradeError> {
    parse_exact(text, places).map_err(|source| match source {
        NumberError::TooManyDecimals { .. } => TradeError::TooManyDecimals { field, source },
        other => TradeError::BadNumber { field, source: other },
    })
}

fn quantity(text: &str) -> Result<Decimal, TradeError> {
    match exact("quantity", text, QUANTITY_DP) {
        Ok(q) => Ok(validate_quantity(q)?),
        Err(TradeError::BadNumber { .. }) => Err(Refusal::BadQuantity.into()),
        Err(e) => Err(e),
    }
}

fn price(field: &'static str, text: Option<&str>) -> Result<Option<Decimal>, TradeError> {
    text.map(|t| exact(field, t, CASH_DP)).transpose()
}

fn trail(price_text: Option<&str>, percent_text: Option<&str>) -> Result<Option<Trail>, TradeError> {
    let amount = price("trail_price", price_text)?.map(Trail::Price);
    let percent = percent_text.map(|t| exact("trail_percent", t, PERCENT_DP)).transpose()?.map(Trail::Percent);
    match (amount, percent) {
        (Some(_), Some(_)) => Err(TradeError::Terms(crate::domain::orders::TermsError::BothTrails)),
        (a, p) => Ok(a.or(p)),
    }
}

fn time_in_force(text: Option<&str>) -> Result<Option<TimeInForce>, TradeError> {
    text.map(|t| TimeInForce::parse(t).ok_or_else(|| TradeError::BadTimeInForce(t.to_string()))).transpose()
}

/// Checks everything about a request that does not depend on the market's price.
pub(super) fn check(universe: &Universe, request: OrderRequest) -> Result<Checked, TradeError> {
    validate_uid(&request.firebase_uid)?;
    let instrument = universe.find(&request.symbol).ok_or_else(|| TradeError::UnknownSymbol(request.symbol.clone()))?;
    let side = Side::parse(&request.side).ok_or_else(|| TradeError::BadSide(request.side.clone()))?;
    let order_type = match request.order_type.as_deref() {
        None => OrderType::Market,
        Some(text) => OrderType::parse(text).ok_or_else(|| TradeError::BadOrderType(text.to_string()))?,
    };
    let quantity = quantity(&request.quantity)?;
    let wanted = universe.get(instrument).currency;
    let given = market_of(&request.market)?.currency();
    if given != wanted {
        return Err(TradeError::MarketMismatch {
            market: request.market,
            symbol: universe.get(instrument).symbol.clone(),
            given: given.code(),
            wanted: wanted.code(),
        });
    }
    let spec = OrderSpec {
        side,
        order_type,
        time_in_force: time_in_force(request.time_in_force.as_deref())?.unwrap_or(TimeInForce::Day),
        quantity,
        limit_price: price("limit_price", request.limit_price.as_deref())?,
        stop_price: price("stop_price", request.stop_price.as_deref())?,
        trail: trail(request.trail_price.as_deref(), request.trail_percent.as_deref())?,
    };
    Ok(Checked { uid: request.firebase_uid, instrument, spec })
}

/// New terms read exactly; applied to an order's current terms by [`Changes::apply`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Changes {
    quantity: Option<Decimal>,
    time_in_force: Option<TimeInForce>,
    limit_price: Option<Decimal>,
    stop_price: Option<Decimal>,
    trail: Option<Trail>,
}

pub(super) fn check_changes(r: &Replacement) -> Result<Changes, TradeError> {
    Ok(Changes {
        quantity: r.quantity.as_deref().map(quantity).transpose()?,
        time_in_force: time_in_force(r.time_in_force.as_deref())?,
        limit_price: price("limit_price", r.limit_price.as_deref())?,
        stop_price: price("stop_price", r.stop_price.as_deref())?,
        trail: trail(r.trail_price.as_deref(), r.trail_percent.as_deref())?,
    })
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.quantity.is_none()
            && self.time_in_force.is_none()
            && self.limit_price.is_none()
            && self.stop_price.is_none()
            && self.trail.is_none()
    }

    pub fn apply(&self, spec: &OrderSpec) -> OrderSpec {
        OrderSpec {
            side: spec.side,
            order_type: spec.order_type,
            time_in_force: self.time_in_force.unwrap_or(spec.time_in_force),
            quantity: self.quantity.unwrap_or(spec.quantity),
            limit_price: self.limit_price.or(spec.limit_price),
            stop_price: self.stop_price.or(spec.stop_price),
            trail: self.trail.or(spec.trail),
        }
    }
}
