"""Joint announcements in the coalition's room: propose, reword, schedule, preview, lock, sign on, remind.

Each command translates the message into one call of :mod:`hub.services.announcements` and its result into
an answer; the rules (who may, in which state, what fits) live in the hub. After every change the
announcement's card is edited in place (:mod:`bot.card`). Long texts go on the lines after the command::

    !annonce Départ de X
    {ville} quitte X ! Suivez-nous sur {site}

One module per part of an announcement's life, in the order of the help: :mod:`.drafting` (propose, open,
reword, images), :mod:`.thread` (follow-up, pin), :mod:`.prestaging` (Mastodon posts handed over ahead),
:mod:`.scheduling` (date, lock, cancel, remind), :mod:`.status` (``!agenda`` and ``!etat``),
:mod:`.signing` (preview, sign, decline); :mod:`.shared` holds the steps they all take.

This file imports nothing: a module that imports one of these would otherwise depend on all of them.
"""
