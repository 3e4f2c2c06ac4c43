"""The sandbox's signed account routes: the key, the account and its wallet.

- ``GET /v5/user/query-api``: the key's description. ``readOnly`` is 0: the key trades
  (order entry, ``oms.sandbox.entry_routes``); ``uta`` 1, ``secret`` ``""`` (Bybit never
  returns it).
- ``GET /v5/account/info``: a unified trading account 2.0 (``unifiedMarginStatus`` 6),
  regular cross margin.
- ``GET /v5/account/wallet-balance``: ``accountType=UNIFIED`` (the only type a unified
  account has: any other is 10001), ``coin`` a comma-separated filter. The row is the one
  the ``wallet`` frames carry, computed from the same state.
- ``GET /v5/asset/coin/query-info``: one row per coin the sandbox trades or settles in
  (``coin`` filters), with no chains (the sandbox has no deposits or withdrawals).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from oms.sandbox.params import ParamError, Params

if TYPE_CHECKING:
    from collections.abc import Callable

    from oms.sandbox.exchange import Exchange

#: the sandbox account's user id (any stable number: Bybit's are 6-9 digits)
USER_ID: Final = 100_000_001
_PERMISSIONS: Final = (
    "ContractTrade", "Spot", "Wallet", "Options", "Derivatives", "CopyTrading",
    "BlockTrade", "Exchange", "NFT", "Affiliate", "Earn",
)  # fmt: skip


class AccountRoutes:
    """The key, the account and its wallet."""

    def __init__(self, exchange: Exchange, api_key: str) -> None:
        self.exchange = exchange
        self.api_key = api_key

    def routes(self) -> dict[str, Callable[[Params], dict[str, object]]]:
        """Path -> handler of each signed GET route."""
        return {
            "/v5/user/query-api": self._query_api,
            "/v5/account/info": self._account_info,
            "/v5/account/wallet-balance": self._wallet_balance,
            "/v5/asset/coin/query-info": self._coin_info,
        }

    def _query_api(self, _p: Params) -> dict[str, object]:
        return {
            "id": "1", "note": "oms sandbox", "apiKey": self.api_key, "readOnly": 0,
            "secret": "", "permissions": {name: [] for name in _PERMISSIONS},
            "ips": ["*"], "type": 1, "deadlineDay": -1, "expiredAt": "",
            "createdAt": "2024-06-01T00:00:00Z", "unified": 0, "uta": 1, "userID": USER_ID,
            "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0,
            "rsaPublicKey": "", "isMaster": True, "parentUid": "0",
            "kycLevel": "LEVEL_DEFAULT", "kycRegion": "",
        }  # fmt: skip

    def _account_info(self, _p: Params) -> dict[str, object]:
        return {
            "unifiedMarginStatus": 6, "marginMode": "REGULAR_MARGIN", "isMasterTrader": False,
            "spotHedgingStatus": "OFF", "updatedTime": "1717200000000", "dcpStatus": "OFF",
            "timeWindow": 0, "smpGroup": 0,
        }  # fmt: skip

    def _wallet_balance(self, p: Params) -> dict[str, object]:
        account_type = p.get("accountType", "")
        if not account_type:
            raise ParamError("accountType is required")
        if account_type != "UNIFIED":
            raise ParamError(f"accountType only support UNIFIED, not {account_type!r}")
        row = self.exchange.wallet_row()
        wanted = {c for c in p.get("coin", "").split(",") if c}
        coins = row["coin"]
        if wanted and isinstance(coins, list):
            row["coin"] = [c for c in coins if c["coin"] in wanted]
        return {"list": [row]}

    def _coin_info(self, p: Params) -> dict[str, object]:
        specs = self.exchange.specs
        coins = sorted({s.base_coin for s in specs} | {s.settle_coin for s in specs})
        wanted = p.get("coin", "")
        rows = [
            {"name": coin, "coin": coin, "remainAmount": "0", "chains": []}
            for coin in coins
            if wanted in ("", coin)
        ]
        return {"rows": rows}
