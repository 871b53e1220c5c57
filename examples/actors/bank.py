"""A bank that keeps each account in a virtual actor; interest is paid by a persistent reminder.

    tandem run --app-id bank --app-port 6004 -- python bank.py

Each account id is one `BankAccount` actor: the sidecar activates it on its first call, runs
its calls one at a time (two withdrawals can never both see the same balance), and keeps its
state in the actor state store (``statestore`` from ``tandem init``). The interest reminder
is stored by the sidecar, so it keeps firing after a restart, until its ``Rn/`` count runs out.
Amounts are whole cents.
"""
from __future__ import annotations

from typing import Any

from tandem import Actor, App, actor_method

app = App(app_id="bank")


class InsufficientFunds(Exception):
    """A withdrawal larger than the balance."""


@app.actor
class BankAccount(Actor):
    @actor_method
    async def deposit(self, cents: int) -> int:
        balance = await self.state.get("balance", 0) + _positive(cents)
        await self.state.set("balance", balance)  # saved when this call returns
        return int(balance)

    @actor_method
    async def withdraw(self, cents: int) -> int:
        balance = await self.state.get("balance", 0)
        if _positive(cents) > balance:
            raise InsufficientFunds(f"{self.id} holds {balance}, asked for {cents}")  # nothing is saved
        await self.state.set("balance", balance - cents)
        return int(balance - cents)

    @actor_method
    async def statement(self) -> dict[str, Any]:
        return {"balance": await self.state.get("balance", 0),
                "interest_payments": await self.state.get("interest_payments", 0)}

    @actor_method
    async def start_interest(self, percent: float, every_seconds: int, times: int) -> None:
        """Pay `percent` of the balance every `every_seconds`, `times` times (ISO 8601 ``Rn/PTnS``)."""
        await self.register_reminder("interest", {"percent": percent}, due_time=every_seconds,
                                     period=f"R{times}/PT{every_seconds}S")

    async def receive_reminder(self, name: str, data: Any, due_time: str | None, period: str | None) -> None:
        if name != "interest":
            return
        balance = await self.state.get("balance", 0)
        interest = int(balance * float(data["percent"]) / 100)
        payments = await self.state.get("interest_payments", 0) + 1
        await self.state.set("balance", balance + interest)
        await self.state.set("interest_payments", payments)
        print(f"account {self.id}: interest payment {payments}: +{interest} cents, "
              f"balance {balance + interest}", flush=True)


def _positive(cents: Any) -> int:
    if isinstance(cents, bool) or not isinstance(cents, int) or cents <= 0:
        raise ValueError(f"an amount is a positive number of cents, got {cents!r}")
    return cents


if __name__ == "__main__":
    app.run()  # on $APP_PORT, set by `tandem run --app-port`
