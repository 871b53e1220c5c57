"""Use the bank's accounts from another app, through this app's own sidecar.

    tandem run --app-id bank-client -- python client.py [--account alice]

`client.actor("BankAccount", id)` is a proxy: each call goes to this app's sidecar, which
finds the sidecar hosting that account (placement) and forwards it there. A method that
raises in the actor comes back as `SidecarError` (500, ``ERR_ACTOR_INVOKE_METHOD``).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time

from tandem import Client, SidecarError


def say(message: str) -> None:
    print(message, flush=True)


async def main(account: str, payments: int, timeout: float) -> int:
    async with Client.from_env() as client:
        acct = client.actor("BankAccount", account)
        deadline = time.monotonic() + timeout
        while True:  # the bank may still be starting: ask for a statement (it changes nothing) until it answers
            try:
                opening = await acct.statement()
                break
            except SidecarError as err:
                if time.monotonic() > deadline:
                    say(f"the bank did not answer: {err}")
                    return 1
                await asyncio.sleep(0.2)
        say(f"{account}: opening balance {opening['balance']} cents")
        say(f"{account}: deposit 10000 -> balance {await acct.deposit(10_000)}")
        try:
            await acct.withdraw(1_000_000)
        except SidecarError as err:
            say(f"{account}: withdraw 1000000 refused ({err.error_code})")
        say(f"{account}: withdraw 2500 -> balance {await acct.withdraw(2_500)}")
        await acct.call("start_interest", percent=1, every_seconds=1, times=payments)
        say(f"{account}: 1% interest every second, {payments} time(s), by a reminder")
        done = opening["interest_payments"] + payments
        while (statement := await acct.statement())["interest_payments"] < done:
            if time.monotonic() > deadline:
                say(f"{account}: only {statement['interest_payments']} interest payment(s) after {timeout}s")
                return 1
            await asyncio.sleep(0.2)
        say(f"{account}: closing balance {statement['balance']} cents after {payments} interest payment(s)")
        return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Deposit, withdraw and earn interest on a bank account actor.")
    parser.add_argument("--account", default="alice", help="the account (actor) id (default: alice)")
    parser.add_argument("--payments", type=int, default=3, help="interest payments to wait for (default: 3)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the bank")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.account, args.payments, args.timeout)))
