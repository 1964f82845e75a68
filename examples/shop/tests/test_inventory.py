"""Inventory behaviour against an in-memory database."""

import pytest

from api.db import Database
from api.inventory import InventoryService, OutOfStock


@pytest.fixture
def inventory() -> InventoryService:
    db = Database(":memory:")
    db.execute("CREATE TABLE stock (sku TEXT PRIMARY KEY, on_hand INTEGER, reserved INTEGER)")
    service = InventoryService(db)
    service.restock("MUG-01", 3)
    service.restock("TEE-M", 1)
    return service


def test_reservation_is_all_or_nothing(inventory: InventoryService) -> None:
    with pytest.raises(OutOfStock):
        inventory.reserve_stock({"MUG-01": 2, "TEE-M": 5})
    assert inventory.level("MUG-01").available == 3


def test_released_units_become_available_again(inventory: InventoryService) -> None:
    inventory.reserve_stock({"MUG-01": 2})
    inventory.release_stock({"MUG-01": 2})
    assert inventory.level("MUG-01").available == 3
