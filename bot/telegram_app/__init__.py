"""The python-telegram-bot side: generated from the route table (bot.commands.routes).

app.py       the Application, its lifecycle (start/stop, webhook or long polling, command menus)
handlers.py  thin handlers: build a Ctx, call the route, queue the reply in the outbox
sender.py    the loop that drains the outbox (bot.delivery.Sender) whenever woken
"""

from bot.telegram_app.app import BotRuntime, build_application, start_telegram

__all__ = ["BotRuntime", "build_application", "start_telegram"]
