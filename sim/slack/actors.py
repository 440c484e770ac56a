"""Acting as a person in the workspace, and seeing what they see.

`Person` does what a human does in the Slack client, producing the payloads Slack would send
(reference slack.md §1.1, §2.1, §2.4): type a slash command in a channel (with a
`response_url` and a `trigger_id`), click a button (a confirm dialog is shown first and may be
denied, in which case the app hears nothing), submit or close a modal, open the App Home,
post a message. Each call returns the `Delivery`, already settled unless `wait=False`.

What they see comes from the record (`sees`) or the current state rendered for a terminal
(`screen`), with buttons numbered so "click 2" means the second button of that message.
"""

from __future__ import annotations

import copy
from typing import Any

from sim.slack import blockkit, messages, responses
from sim.slack.conversations import Message
from sim.slack.delivery import Delivery, Dispatcher
from sim.slack.errors import ApiError
from sim.slack.record import Seen
from sim.slack.workspace import Channel, User
from sim.slack.world import World


class ActorError(ValueError):
    """A person cannot do that (not in the channel, no such button ...): says what to fix."""


class Person:
    def __init__(self, world: World, dispatcher: Dispatcher, user: User) -> None:
        self.world = world
        self.dispatcher = dispatcher
        self.user = user

    @property
    def id(self) -> str:
        return self.user.id

    def __repr__(self) -> str:
        return f"Person({self.user.name}, {self.user.id})"

    # ---- helpers ----------------------------------------------------------------------------

    def _channel(self, ref: str | None) -> Channel:
        ws = self.world.workspace
        if ref is None or ref in ("@app", "dm"):
            return ws.im_with(self.id)
        channel = ws.channel(ref)
        if channel is None:
            known = ", ".join(sorted(c.name for c in ws.channels.values() if not c.is_im))
            raise ActorError(messages.UNKNOWN_CHANNEL.format(ref=ref, known=known))
        if self.id not in channel.members:
            raise ActorError(
                messages.NOT_A_MEMBER.format(user=self.user.name, channel=channel.name)
            )
        return channel

    def _team(self) -> dict[str, str]:
        ws = self.world.workspace
        return {"id": ws.team_id, "domain": ws.domain}

    def _response_url(self, kind: str, channel: str | None, **fields: Any) -> str:
        handle = self.world.handles.issue_response_url(
            kind, self.id, channel, self.world.now(), **fields
        )
        return f"{self.world.base_url}hooks/{kind}/{handle.id}"

    def _settle(self, delivery: Delivery, wait: bool, timeout: float) -> Delivery:
        return delivery.wait(timeout) if wait else delivery

    # ---- slash commands ---------------------------------------------------------------------

    def command(
        self,
        command: str,
        text: str = "",
        channel: str | None = "dr-ops",
        *,
        wait: bool = True,
        timeout: float = 10.0,
    ) -> Delivery:
        """Type `/command text` in a channel (None: the DM with the app). There is no thread
        argument: Slack does not let app commands be typed in threads."""
        ws = self.world.workspace
        if command not in ws.app.commands:
            raise ActorError(
                messages.UNKNOWN_COMMAND.format(command=command, known=", ".join(ws.app.commands))
            )
        with self.world.lock:
            room = self._channel(channel)
            trigger = self.world.handles.issue_trigger(self.id, self.world.now())
            response_url = self._response_url("commands", room.id, command=command)
        payload = {
            "token": ws.app.verification_token,
            "team_id": ws.team_id,
            "team_domain": ws.domain,
            "channel_id": room.id,
            "channel_name": _channel_name(room),
            "user_id": self.id,
            "user_name": self.user.name,
            "command": command,
            "text": text,
            "api_app_id": ws.app.id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger.id,
        }
        typed = f"{command} {text}".strip()

        def acked(delivery: Delivery) -> None:
            body = delivery.ack or {}
            if body.get("text") or body.get("blocks") or body.get("attachments"):
                try:
                    responses.show(
                        self.world, user=self.id, channel=room.id, body=body, echo_command=typed
                    )
                except ApiError as refusal:  # Slack shows the author that the answer was bad
                    shown = messages.COMMAND_FAILED.format(command=command, error=refusal.error)
                    self.world.show_error(self.id, room.id, shown, error=refusal.error)

        def failed(delivery: Delivery) -> None:
            text_shown = messages.COMMAND_FAILED.format(command=command, error=delivery.error)
            self.world.show_error(
                self.id, room.id, text_shown, error=delivery.error, envelope_id=delivery.envelope_id
            )

        delivery = self.dispatcher.deliver(
            "slash_commands",
            payload,
            on_ack=acked,
            on_fail=failed,
            trigger_id=trigger.id,
            response_url=response_url,
        )
        return self._settle(delivery, wait, timeout)

    # ---- buttons ----------------------------------------------------------------------------

    def buttons(self, channel: str, ts: str) -> list[blockkit.Button]:
        message = self._message(channel, ts)
        return blockkit.render(message.text, message.blocks, self.world.name_of).buttons

    def _message(self, channel: str, ts: str) -> Message:
        room = self._channel(channel)
        message = self.world.find_message(room.id, ts)
        if message is None or (message.ephemeral_to and message.ephemeral_to != self.id):
            raise ActorError(messages.MESSAGE_NOT_FOUND.format(ts=ts, channel=room.name))
        return message

    def click(
        self,
        channel: str | None,
        ts: str,
        *,
        action_id: str | None = None,
        number: int | None = None,
        text: str | None = None,
        value: str | None = None,
        confirm: bool = True,
        as_of: int | None = None,
        wait: bool = True,
        timeout: float = 10.0,
    ) -> Delivery | None:
        """Click a button of message `ts` in `channel`, chosen by action_id, number, label or
        value. A button with a confirm dialog needs `confirm=True` (press "confirm") for the
        app to hear of it; `confirm=False` presses "deny" and returns None.

        `as_of` is the record seq of an earlier version of the message (its `message`,
        `thread_reply` or `edit` entry): the person clicks the message as that version showed
        it, as on a screen that has not refreshed or on a second device. That is how a second
        approval, or a click after the buttons were removed, really reaches an app: the
        payload carries the old blocks, and the action the button had then."""
        ws = self.world.workspace
        with self.world.lock:
            room = self._channel(channel)
            message = self._message(room.id, ts)
            shown_text, shown_blocks = message.text, message.blocks
            if as_of is not None:
                shown_text, shown_blocks = self._version(room.id, ts, as_of)
            button = self._pick(shown_text, shown_blocks, ts, action_id, number, text, value)
            if not self._confirmed(button, room.id, ts, confirm):
                return None
            trigger = self.world.handles.issue_trigger(self.id, self.world.now())
            response_url = self._response_url(
                "actions",
                room.id,
                message_ts=message.ts,
                is_ephemeral=bool(message.ephemeral_to),
            )
            container: dict[str, Any] = {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": room.id,
                "is_ephemeral": bool(message.ephemeral_to),
            }
            if message.thread_ts:
                container["thread_ts"] = message.thread_ts
            shown = message.to_api(ws.team_id)
            shown["text"] = shown_text
            if shown_blocks is not None:
                shown["blocks"] = copy.deepcopy(shown_blocks)
            payload = self._block_actions(
                container,
                trigger.id,
                button,
                channel={"id": room.id, "name": _channel_name(room)},
                message=shown,
                state={"values": {}},
                response_url=response_url,
            )
            if message.ephemeral_to:
                # Slack keeps no copy of an ephemeral message: the click says only where it
                # was (container.is_ephemeral); replace it through the response_url
                del payload["message"], payload["state"]
        return self._deliver_interaction(payload, room.id, wait, timeout)

    def _version(self, channel: str, ts: str, seq: int) -> tuple[str, list | None]:
        """Text and blocks of message `ts` as record entry `seq` showed them to this person."""
        for entry in self.world.record.entries(channel=channel, since=max(0, seq - 1)):
            if entry.seq != seq:
                break
            if (
                entry.ts == ts
                and entry.kind in ("message", "thread_reply", "edit", "ephemeral")
                and entry.visible_to(self.id)
            ):
                return entry.text, copy.deepcopy(entry.blocks)
        raise ActorError(messages.NO_SUCH_VERSION.format(seq=seq, ts=ts))

    def click_in_view(
        self,
        view_id: str | None = None,
        *,
        action_id: str | None = None,
        number: int | None = None,
        text: str | None = None,
        value: str | None = None,
        confirm: bool = True,
        wait: bool = True,
        timeout: float = 10.0,
    ) -> Delivery | None:
        """Click a button in an open modal (default: the top one) or the Home tab."""
        with self.world.lock:
            view = self._view(view_id)
            button = self._pick("", view.get("blocks"), view["id"], action_id, number, text, value)
            if not self._confirmed(button, None, view["id"], confirm):
                return None
            trigger = self.world.handles.issue_trigger(
                self.id, self.world.now(), view_id=view["id"]
            )
            payload = self._block_actions(
                {"type": "view", "view_id": view["id"]},
                trigger.id,
                button,
                view=copy.deepcopy(view),
            )
        return self._deliver_interaction(payload, None, wait, timeout)

    def _block_actions(
        self, container: dict, trigger_id: str, button: blockkit.Button, **where: Any
    ) -> dict[str, Any]:
        """A block_actions payload in Slack's field order: who and where, `where`, the action."""
        ws = self.world.workspace
        return {
            "type": "block_actions",
            "user": self.user.brief(ws.team_id),
            "api_app_id": ws.app.id,
            "token": ws.app.verification_token,
            "container": container,
            "trigger_id": trigger_id,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            **where,
            "actions": [self._action(button)],
        }

    def _pick(
        self, text: str, blocks: list | None, where: str, action_id, number, label, value
    ) -> blockkit.Button:
        buttons = blockkit.render(text, blocks, self.world.name_of).buttons
        for button in buttons:
            if (
                (action_id is None or button.action_id == action_id)
                and (number is None or button.number == number)
                and (label is None or button.text == label)
                and (value is None or button.value == value)
            ):
                return button
        what = {
            k: v
            for k, v in (
                ("action_id", action_id),
                ("number", number),
                ("text", label),
                ("value", value),
            )
            if v
        }
        known = ", ".join(f"[{b.number}] {b.text} ({b.action_id})" for b in buttons) or "none"
        raise ActorError(messages.NO_SUCH_BUTTON.format(ts=where, what=what, known=known))

    def _confirmed(
        self, button: blockkit.Button, channel: str | None, ts: str, confirm: bool
    ) -> bool:
        if not button.confirm:
            return True
        title = blockkit._plain(button.confirm.get("title"), None)
        self.world.record.add(
            "confirm",
            self.world.now(),
            channel=channel,
            ts=ts,
            to_user=self.id,
            text=blockkit._plain(button.confirm.get("text"), self.world.name_of),
            detail={"title": title, "confirmed": confirm, "action_id": button.action_id},
        )
        return confirm

    def _action(self, button: blockkit.Button) -> dict[str, Any]:
        action = {
            "action_id": button.action_id,
            "block_id": button.block_id,
            "text": button.element.get("text"),
            "type": "button",
            "action_ts": self.world.unique_ts(),
        }
        for key in ("value", "style", "url"):
            if button.element.get(key) is not None:
                action[key] = button.element[key]
        return action

    def _deliver_interaction(
        self, payload: dict, channel: str | None, wait: bool, timeout: float
    ) -> Delivery:
        def failed(delivery: Delivery) -> None:
            self.world.show_error(
                self.id,
                channel,
                messages.INTERACTION_FAILED.format(error=delivery.error),
                error=delivery.error,
            )

        delivery = self.dispatcher.deliver(
            "interactive",
            payload,
            on_fail=failed,
            trigger_id=payload["trigger_id"],
            response_url=payload.get("response_url"),
        )
        return self._settle(delivery, wait, timeout)

    # ---- modals -----------------------------------------------------------------------------

    def view(self) -> dict | None:
        """The modal on top of this person's screen, if any."""
        with self.world.lock:
            stack = self.world.modal_stacks.get(self.id, [])
            return copy.deepcopy(self.world.views[stack[-1]]) if stack else None

    def home(self) -> dict | None:
        with self.world.lock:
            view_id = self.world.homes.get(self.id)
            return copy.deepcopy(self.world.views[view_id]) if view_id else None

    def _view(self, view_id: str | None) -> dict:
        if view_id is None:
            stack = self.world.modal_stacks.get(self.id, [])
            if not stack:
                raise ActorError(messages.NO_OPEN_VIEW.format(user=self.user.name))
            view_id = stack[-1]
        view = self.world.views.get(view_id)
        if view is None:
            raise ActorError(messages.NO_OPEN_VIEW.format(user=self.user.name))
        return view

    def submit(
        self, values: dict[str, Any] | None = None, *, wait: bool = True, timeout: float = 10.0
    ) -> Delivery:
        """Submit the top modal. `values` maps block_id → {action_id: value}, or action_id →
        value; a select's value is the option's `value`, checkboxes take a list."""
        ws = self.world.workspace
        with self.world.lock:
            view = self._view(None)
            view["state"] = {"values": self._state(view, values or {})}
            trigger = self.world.handles.issue_trigger(
                self.id, self.world.now(), view_id=view["id"]
            )
            payload = {
                "type": "view_submission",
                "team": self._team(),
                "user": self.user.brief(ws.team_id),
                "api_app_id": ws.app.id,
                "token": ws.app.verification_token,
                "trigger_id": trigger.id,
                "view": copy.deepcopy(view),
                "response_urls": [],
                "is_enterprise_install": False,
                "enterprise": None,
            }
            submitted = view["id"]

        def acked(delivery: Delivery) -> None:
            self._after_submission(submitted, delivery.ack or {})

        def failed(delivery: Delivery) -> None:
            self.world.record.add(
                "view_errors",
                self.world.now(),
                to_user=self.id,
                text=messages.VIEW_SUBMISSION_FAILED.format(error=delivery.error),
                detail={"error": delivery.error},
            )

        delivery = self.dispatcher.deliver("interactive", payload, on_ack=acked, on_fail=failed)
        return self._settle(delivery, wait, timeout)

    def _after_submission(self, view_id: str, ack: dict) -> None:
        world = self.world
        action = ack.get("response_action")
        with world.lock:
            stack = world.modal_stacks.setdefault(self.id, [])
            refusal = _refused_response_action(action, ack.get("view"), len(stack))
            if refusal:
                # Slack keeps the modal as it was and tells the person it could not go on
                world.record.add(
                    "view_errors",
                    world.now(),
                    to_user=self.id,
                    text=messages.VIEW_SUBMISSION_FAILED.format(error=refusal),
                    detail={"error": refusal, "response_action": action},
                )
            elif action == "errors":
                world.record.add(
                    "view_errors",
                    world.now(),
                    to_user=self.id,
                    text="; ".join(f"{k}: {v}" for k, v in (ack.get("errors") or {}).items()),
                    detail={"errors": ack.get("errors")},
                )
            elif action == "update" and isinstance(ack.get("view"), dict):
                current = world.views[view_id]
                view = world.make_view(
                    ack["view"],
                    user=self.id,
                    root_view_id=current["root_view_id"],
                    previous_view_id=current["previous_view_id"],
                    view_id=view_id,
                )
                world.record_view("view_updated", self.id, view)
            elif action == "push" and isinstance(ack.get("view"), dict):
                view = world.make_view(
                    ack["view"],
                    user=self.id,
                    root_view_id=stack[0] if stack else None,
                    previous_view_id=view_id,
                )
                stack.append(view["id"])
                world.record_view("view_pushed", self.id, view)
            elif action == "clear":
                world.close_modal(self.id, everything=True)
            else:
                world.close_modal(self.id)

    def close_view(self, *, wait: bool = True, timeout: float = 10.0) -> Delivery | None:
        """Press Cancel on the top modal; the app hears `view_closed` only if it asked
        (notify_on_close)."""
        ws = self.world.workspace
        with self.world.lock:
            view = self._view(None)
            notify = view.get("notify_on_close")
            self.world.close_modal(self.id)
        if not notify:
            return None
        payload = {
            "type": "view_closed",
            "team": self._team(),
            "user": self.user.brief(ws.team_id),
            "api_app_id": ws.app.id,
            "token": ws.app.verification_token,
            "view": copy.deepcopy(view),
            "is_cleared": False,
            "is_enterprise_install": False,
        }
        return self._settle(self.dispatcher.deliver("interactive", payload), wait, timeout)

    def _state(self, view: dict, given: dict[str, Any]) -> dict[str, dict]:
        state: dict[str, dict] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block.get("element", {})
            block_id, action_id = block.get("block_id", ""), element.get("action_id", "")
            raw = (
                given.get(block_id, {}).get(action_id)
                if isinstance(given.get(block_id), dict)
                else None
            )
            if raw is None:
                raw = given.get(action_id)
            if raw is None and not block.get("optional", False):
                raise ActorError(
                    messages.REQUIRED_FIELD.format(block_id=block_id, action_id=action_id)
                )
            state.setdefault(block_id, {})[action_id] = _element_value(element, raw)
        return state

    # ---- App Home, messages -----------------------------------------------------------------

    def open_home(self, *, wait: bool = True, timeout: float = 10.0) -> Delivery | None:
        """Open the app's Home tab: an `app_home_opened` event, if the app subscribed to it."""
        ws = self.world.workspace
        if "app_home_opened" not in ws.app.bot_events:
            return None
        with self.world.lock:
            im = ws.im_with(self.id)
            event: dict[str, Any] = {
                "type": "app_home_opened",
                "user": self.id,
                "channel": im.id,
                "tab": "home",
                "event_ts": self.world.unique_ts(),
            }
            home = self.home()
            if home:
                event["view"] = home
        return self._settle(
            self.dispatcher.deliver("events_api", self._callback(event)), wait, timeout
        )

    def say(self, channel: str | None, text: str, *, thread_ts: str | None = None) -> Message:
        """Post a message as this person (an `app_mention` event if it mentions the bot and the
        app subscribed to those)."""
        ws = self.world.workspace
        with self.world.lock:
            room = self._channel(channel)
            message = self.world.post(room.id, self.id, text, thread_ts=thread_ts, as_bot=False)
        if f"<@{ws.app.bot_user_id}>" in text and "app_mention" in ws.app.bot_events:
            event = {
                "type": "app_mention",
                "user": self.id,
                "text": text,
                "ts": message.ts,
                "channel": room.id,
                "event_ts": message.ts,
            }
            if message.thread_ts:
                event["thread_ts"] = message.thread_ts
            self.dispatcher.deliver("events_api", self._callback(event))
        return message

    def _callback(self, event: dict) -> dict:
        ws = self.world.workspace
        serial = self.world.handles.serial()
        return {
            "token": ws.app.verification_token,
            "team_id": ws.team_id,
            "api_app_id": ws.app.id,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev0SIM{serial:08d}",
            "event_time": int(self.world.now()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": ws.team_id,
                    "user_id": ws.app.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-sim-{serial}",
        }

    # ---- seeing -----------------------------------------------------------------------------

    def sees(
        self,
        channel: str | None = None,
        *,
        thread_ts: str | None = None,
        kind: str | tuple[str, ...] | None = None,
        since: int = 0,
    ) -> list[Seen]:
        """Everything shown to this person, in order (optionally in one channel or thread)."""
        room = None
        if channel is not None:
            found = (
                self.world.workspace.channel(channel)
                if channel not in ("@app", "dm")
                else self._channel(None)
            )
            room = found.id if found else channel
        return self.world.record.entries(
            channel=room, thread_ts=thread_ts, kind=kind, visible_to=self.id, since=since
        )

    def screen(self, channel: str | None = "dr-ops", *, thread_ts: str | None = None) -> str:
        """The channel (or a thread) as it now looks to this person, as plain text."""
        with self.world.lock:
            room = self._channel(channel)
            convo = self.world.conversations
            shown = convo.thread(room.id, thread_ts) if thread_ts else convo.history(room.id)
            mine = convo.ephemerals(room.id, self.id)
            if thread_ts:
                mine = [m for m in mine if m.thread_ts == thread_ts]
            else:
                mine = [m for m in mine if not m.thread_ts]
            lines = []
            for message in sorted(shown + mine, key=lambda m: float(m.ts)):
                who = self.world.name_of(message.user)
                tags = " (only visible to you)" if message.ephemeral_to else ""
                tags += " (edited)" if message.edited_ts else ""
                tags += (
                    f" [{message.reply_count} replies]"
                    if message.reply_count and not thread_ts
                    else ""
                )
                lines.append(f"{who} {message.ts}{tags}")
                rendered = blockkit.render(message.text, message.blocks, self.world.name_of)
                lines += ["  " + line for line in rendered.text.splitlines()]
                lines += [f"  [file: {f.get('name')} {f.get('mimetype')}]" for f in message.files]
            return "\n".join(lines)


def _refused_response_action(action: Any, view: Any, depth: int) -> str | None:
    """Slack's error for an `update` / `push` ack it cannot apply, None when it can."""
    if action not in ("update", "push"):
        return None
    error, _ = blockkit.check_view(view)
    if error is None and isinstance(view, dict) and view.get("type") != "modal":
        error = "invalid_arguments"
    if error is None and action == "push" and depth >= 3:
        error = "push_limit_reached"
    return error


def _channel_name(room: Channel) -> str:
    """The channel name Slack puts in payloads: private channels show as "privategroup"."""
    if room.is_im:
        return "directmessage"
    return "privategroup" if room.is_private else room.name


def _element_value(element: dict, raw: Any) -> dict[str, Any]:
    kind = element.get("type", "plain_text_input")
    options = element.get("options") or []

    def option(value: Any) -> dict | None:
        return next((copy.deepcopy(o) for o in options if o.get("value") == value), None)

    if raw is None:
        return {"type": kind, "value": None}
    if kind in ("static_select", "radio_buttons", "external_select"):
        return {"type": kind, "selected_option": option(raw)}
    if kind in ("multi_static_select", "checkboxes"):
        values = raw if isinstance(raw, list) else [raw]
        return {"type": kind, "selected_options": [o for o in (option(v) for v in values) if o]}
    if kind == "users_select":
        return {"type": kind, "selected_user": raw}
    if kind == "multi_users_select":
        return {"type": kind, "selected_users": raw if isinstance(raw, list) else [raw]}
    if kind in ("conversations_select", "channels_select"):
        key = "selected_conversation" if kind == "conversations_select" else "selected_channel"
        return {"type": kind, key: raw}
    if kind == "datepicker":
        return {"type": kind, "selected_date": raw}
    if kind == "timepicker":
        return {"type": kind, "selected_time": raw}
    return {"type": kind, "value": str(raw)}
