"""Every bot command as a plain function: (Ctx, argument) -> Reply. Telegram and the terminal adapt them.

reply.py      Reply, Button and Ctx (what a command may read), the 4,096-character cap
callbacks.py  the versioned callback-data codec (buttons name regions and types, never indices)
lookups.py    /region /type /search /latest /regions /help
subscriptions.py  /subscribe (keyboard and shortcuts) /unsubscribe /settings /stop /lang /digest
why.py        /why and the correction buttons
admin.py      /feeds /addfeed /removefeed /stats (configured admin chats only)
routes.py     THE route table: every command and every button, with its permissions
"""
