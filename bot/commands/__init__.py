"""Every bot command as a plain function: (Ctx, argument) -> Reply. Telegram and the terminal adapt them.

reply.py      Reply, Button and Ctx (what a command may read), the 4,096-character cap
callbacks.py  the versioned callback-data codec (buttons name regions and types, never indices)
lookups.py    /latest /regions /help and the paged listing of items
ask.py        /search /region /type, plain questions and unknown commands (the query language)
alerts.py     /subscribe /alerts /unsubscribe /fuseau /settings /digest (alert profiles)
chat.py       /lang /stop and what an empty digest does
why.py        /why and the correction buttons
admin.py      /feeds /addfeed /removefeed /stats (configured admin chats only)
routes.py     THE route table: every command and every button, with its permissions
"""
