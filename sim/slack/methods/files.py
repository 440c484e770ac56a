"""Uploads the files_upload_v2 way: files.getUploadURLExternal, the upload URL itself, then
files.completeUploadExternal, which shares into channels only where the bot is a member.
"""

from __future__ import annotations

from sim.slack.errors import ApiError
from sim.slack.methods.base import Call, check_thread_ts, method, resolve_channel
from sim.slack.world import StoredFile, World


@method("files.getUploadURLExternal", tier=4, scopes=("files:write",))
def files_get_upload_url_external(call: Call) -> dict:
    world = call.world
    filename = call.text("filename")
    length = call.args.get("length")
    if not filename or length in (None, ""):
        raise ApiError("invalid_arguments")
    size = call.integer("length", 0)
    if size <= 0:
        raise ApiError("invalid_arguments")
    file_id = world.new_id("F")
    world.files[file_id] = StoredFile(
        file_id,
        filename,
        size,
        alt_txt=call.text("alt_txt") or "",
        user=world.workspace.app.bot_user_id,
        created=world.now(),
    )
    ticket = world.handles.issue_ticket(world.now())
    world.upload_tickets[ticket] = file_id
    return {"upload_url": f"{world.base_url}upload/v1/{ticket}", "file_id": file_id}


@method("files.completeUploadExternal", tier=4, scopes=("files:write",))
def files_complete_upload_external(call: Call) -> dict:
    world = call.world
    items = call.json("files")
    if not isinstance(items, list) or not items:
        raise ApiError("invalid_arguments")
    stored: list[StoredFile] = []
    for item in items:
        if not isinstance(item, dict):
            raise ApiError("invalid_arguments")
        found = world.files.get(str(item.get("id", "")))
        if found is None or found.content is None or found.completed:
            raise ApiError("file_not_found")
        stored.append(found)
    targets = [c for c in (call.text("channels") or "").split(",") if c]
    if call.text("channel_id"):
        targets.insert(0, call.text("channel_id") or "")
    channels = []
    for ref in targets:
        channel = resolve_channel(call, ref)
        if not world.workspace.bot_is_member(channel):
            raise ApiError("not_in_channel")  # chat:write.public does not help uploads
        channels.append(channel)
    thread_ts = call.text("thread_ts") or None
    for channel in channels:
        check_thread_ts(call, channel.id, thread_ts)
    for found, item in zip(stored, items, strict=True):
        found.completed = True
        found.title = str(item.get("title") or found.name)
    shown = [f.to_api(world.base_url, world.workspace.team_id) for f in stored]
    for channel in channels:
        world.post(
            channel.id,
            world.workspace.app.bot_user_id,
            call.text("initial_comment") or "",
            thread_ts=thread_ts,
            files=shown,
        )
    return {"files": [{"id": f["id"], "title": f["title"]} for f in shown]}


def receive_upload(world: World, ticket: str, data: bytes) -> tuple[int, str]:
    """The upload URL of files.getUploadURLExternal: takes the bytes once."""
    with world.lock:
        file_id = world.upload_tickets.pop(ticket, None)
        if file_id is None:
            return 404, "invalid_upload_url"
        world.files[file_id].content = data
        return 200, f"OK - {len(data)}"
