from typing import Literal

from fastapi import APIRouter
from pydantic import Field

from functions.api.deps import AppSettings, OnboardedCaller
from functions.api.fields import StoredText
from functions.api.raises import errors
from functions.api.ratelimits import rate_limited
from functions.api.schemas import RequestModel, ResponseModel
from functions.api.suspension import NOT_SUSPENDED
from shared.kit.errors import BillingDisabled, PaymentProviderError, UnknownProduct

router = APIRouter(prefix="/v1/billing", tags=["billing"])


class ProductOut(ResponseModel):
    product_id: str
    name: str
    kind: Literal["pack", "subscription"]
    credits: int
    price_amount: int | None = None  # cents; None when the catalogue names no price
    price_currency: str | None = None


class ProductList(ResponseModel):
    items: list[ProductOut]
    next_cursor: str | None = None


class CheckoutIn(RequestModel):
    product_id: StoredText = Field(min_length=1, max_length=200)


class UrlOut(ResponseModel):
    url: str


@router.get(
    "/products",
    summary="What can be bought, and the credits each grants (public)",
    dependencies=[rate_limited("public")],
)
def list_products(settings: AppSettings) -> ProductList:
    from shared.billing.catalogue import load_catalogue  # lazy: LOADED_BY_THEIR_CALLS (routes/__init__.py)

    catalogue = load_catalogue(settings.products_file)
    return ProductList(
        items=[
            ProductOut(
                product_id=p.polar_product_id,
                name=p.name,
                kind=p.kind,
                credits=p.credits,
                price_amount=p.price_amount,
                price_currency=p.price_currency,
            )
            for p in catalogue
        ]
    )


@router.post(
    "/checkout",
    summary="Start a Polar checkout for one product; answers its URL",
    dependencies=[rate_limited("account"), NOT_SUSPENDED],
    responses=errors(UnknownProduct, PaymentProviderError, BillingDisabled),
)
def create_checkout(body: CheckoutIn, caller: OnboardedCaller, settings: AppSettings) -> UrlOut:
    from shared.billing import polar_api  # polar-sdk is heavy: imported on first use, not at cold start
    from shared.billing.catalogue import load_catalogue  # lazy: LOADED_BY_THEIR_CALLS (routes/__init__.py)

    product = load_catalogue(settings.products_file).get(body.product_id)
    if product is None:
        raise UnknownProduct("No product with this id is on sale.")
    with polar_api.polar_client(settings) as client:
        url = polar_api.create_checkout(
            client, product=product, user_id=caller.account.id, success_url=settings.checkout_success_url
        )
    return UrlOut(url=url)


@router.post(
    "/portal",
    summary="Open the Polar customer portal (invoices, subscriptions); answers its URL",
    dependencies=[rate_limited("account")],
    responses=errors(PaymentProviderError, BillingDisabled),
)
def create_portal(caller: OnboardedCaller, settings: AppSettings) -> UrlOut:
    from shared.billing import polar_api

    with polar_api.polar_client(settings) as client:
        url = polar_api.create_portal_session(client, user_id=caller.account.id, return_url=settings.portal_return_url)
    return UrlOut(url=url)
