"""The message catalogue: flags and refusals in words a worker understands (中文 / English).

Messages are rendered when read, from a flag's code and params, so a stored event can be
shown in either language. Params that name a kind, state, event or role are codes and are
translated here; the rest are shown as given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from server.custody.flags import Flag
from server.custody.lifecycle import EVENT_LABELS, LIFECYCLES, Label
from server.enums import ItemKind, Role

Language = Literal["zh", "en"]

KIND_LABELS: Mapping[str, Label] = {
    ItemKind.specimen_box: ("标本箱", "specimen box"),
    ItemKind.pack: ("无菌包", "pack"),
    ItemKind.instrument_set: ("器械包", "instrument set"),
}
ROLE_LABELS: Mapping[str, Label] = {
    Role.admin: ("管理员", "administrator"),
    Role.dispatcher: ("调度员", "dispatcher"),
    Role.courier: ("配送员", "courier"),
    Role.cssd_staff: ("消毒供应中心人员", "CSSD staff member"),
    Role.lab_receiver: ("检验接收人员", "laboratory receiver"),
    Role.clinic_staff: ("卫生院人员", "clinic staff member"),
}

CATALOGUE: Mapping[str, Label] = {
    "out_of_sequence": (
        "{kind}当前为「{state}」，不能「{event}」；下一步应为：{allowed}",
        "a {kind} that is {state} cannot be '{event}'; expected: {allowed}",
    ),
    "wrong_kind_of_event": ("「{event}」不适用于{kind}", "'{event}' does not apply to a {kind}"),
    "not_registered": (
        "{kind}尚未登记，不能「{event}」",
        "the {kind} has no 'registered' event before '{event}'",
    ),
    "already_registered": ("{kind}已登记", "the {kind} is already registered"),
    "clock_skew": ("终端时钟比服务器快 {ahead}", "the device clock is {ahead} ahead of the server"),
    "clock_behind": (
        "终端时钟比服务器慢 {behind}",
        "the device clock is {behind} behind the server",
    ),
    "inactive_item": ("{barcode} 已停用", "{barcode} is marked inactive"),
    "role_not_allowed": (
        "{name}（{role}）无权「{event}」",
        "{name} is a {role}, who may not '{event}'",
    ),
    # Answers to events that were not stored, or stored before.
    "repeated_in_batch": ("与本批第 {first} 条重复", "same event_id as index {first}"),
    "different_content": (
        "该事件编号已存在，但内容不同",
        "an event with this event_id but different content is stored",
    ),
    "not_written": (
        "本批有被拒绝的扫描，此条未写入，请去掉被拒绝的扫描后重发",
        "not written because another event of the batch was rejected",
    ),
    "unknown_type": ("「{event}」不是 Handoff 的事件类型", "'{event}' is not a Handoff event type"),
    "future_timestamp": (
        "扫描时间比服务器时间晚 {ahead}，终端时钟有误",
        "occurred_at is {ahead} in the future; the device clock is wrong",
    ),
    "not_your_badge": (
        "登录后只能以本人工牌记录",
        "actor must be your own badge when you are logged in",
    ),
    "unknown_barcode": (
        "{field}：没有条码为 {text} 的物品",
        "{field}: no item has the barcode {text}",
    ),
    "unknown_badge": (
        "{field}：没有工牌为 {text} 的人员",
        "{field}: no person has the badge {text}",
    ),
    "unknown_site": (
        "没有代码或条码为 {text} 的站点",
        "site: no site has the code or barcode {text}",
    ),
    "wrong_site": (
        "终端 {device} 只能记录本站点的扫描",
        "device {device} may only record events at its own site",
    ),
    # Specimen transport.
    "seal_broken": (
        "封条 {seal} 已破损，标本箱须暂扣待检验科处置",
        "seal {seal} is broken; the box is held for the laboratory's decision",
    ),
    "seal_mismatch": (
        "封条号不符：封箱时 {recorded}，现为 {observed}",
        "seal number differs: sealed with {recorded}, now {observed}",
    ),
    "temperature_excursion": (
        "温度 {reading}℃ 超出 {low}–{high}℃",
        "temperature {reading} °C is outside {low}–{high} °C",
    ),
    "time_limit_exceeded": ("已超过送检时限 {late}", "the time limit was exceeded by {late}"),
    "time_limit_risk": (
        "{box} 预计无法在时限 {deadline} 前送达",
        "{box} is predicted to miss its time limit {deadline}",
    ),
    "count_mismatch": (
        "数量不符：应为 {expected}，实收 {counted}",
        "count differs: {expected} expected, {counted} counted",
    ),
    "wrong_destination": (
        "送错地点：此箱应送 {destination}",
        "wrong destination: this box goes to {destination}",
    ),
    "unknown_specimen_type": ("未知标本类型 {code}", "unknown specimen type {code}"),
    "one_sided_handoff": (
        "{item} 交接已 {minutes} 分钟未被对方确认",
        "the handoff of {item} has waited {minutes} min for the other party",
    ),
    "manifest_missing": (
        "{item} 在行程 {trip} 的清单上，但未扫描取件",
        "{item} is on trip {trip}'s manifest but was not picked up",
    ),
    "manifest_extra": (
        "{item} 不在行程 {trip} 的清单上",
        "{item} is not on trip {trip}'s manifest",
    ),
    "manifest_misrouted": (
        "{item} 的交接地点与行程 {trip} 清单不符",
        "{item} changed hands at a stop where trip {trip}'s manifest does not place it",
    ),
    # Sterile supply (WS 310).
    "machine_not_in_service": (
        "灭菌器 {machine} 当前「{machine_status}」，不能使用",
        "sterilizer {machine} is {machine_status} and cannot be used",
    ),
    "bowie_dick_missing": (
        "灭菌器 {machine} 今天的 B-D 测试尚未通过，不能开始第一锅",
        "sterilizer {machine} has no passed Bowie-Dick test today; the first load cannot start",
    ),
    "load_empty": ("该锅次没有装载任何包", "the load has no packs"),
    "load_already_started": (
        "{pack}：该锅次已开始灭菌，不能再加包",
        "{pack}: the load has started; no packs can be added",
    ),
    "pack_in_other_load": ("{pack} 已在锅次 {load} 中", "{pack} is already in load {load}"),
    "method_mismatch": (
        "{pack} 需要{method}灭菌，灭菌器 {machine} 不适用",
        "{pack} needs {method} sterilization, which sterilizer {machine} does not do",
    ),
    "parameters_incomplete": (
        "灭菌参数记录不完整（缺：{missing}），不能放行",
        "the cycle record is incomplete (missing: {missing}); no release without it",
    ),
    "cycle_failed": ("灭菌物理参数不合格，本锅失败", "physical parameters failed; the load failed"),
    "chemical_indicator_failed": (
        "化学指示物不合格，本锅包不得发放",
        "the chemical indicator failed; the load's packs may not be issued",
    ),
    "wet_packs": ("湿包：{packs}，需重新处理", "wet packs: {packs}; they go back for reprocessing"),
    "cooling_too_short": (
        "冷却仅 {minutes} 分钟，应不少于 30 分钟",
        "cooled for only {minutes} min; at least 30 min is required",
    ),
    "load_not_unloaded": (
        "锅次 {load} 当前为「{load_status}」，不能放行",
        "load {load} is {load_status} and cannot be released",
    ),
    "implant_waits_for_bi": (
        "锅次 {load} 含植入物，须等生物监测合格，或登记紧急放行（第5类化学指示物、批准人、原因）",
        "load {load} holds implants: it waits for the biological indicator unless an emergency "
        "release is recorded (Type 5 indicator, approver, reason)",
    ),
    "bi_passed_after_emergency": (
        "紧急放行的锅次 {load} 生物监测合格（无菌包 {packs}）",
        "load {load}, released in an emergency, passed its biological indicator (packs {packs})",
    ),
    "bi_failed_after_emergency": (
        "紧急放行的锅次 {load} 生物监测不合格：无菌包 {packs} 已召回，已使用的请追踪患者",
        "load {load}, released in an emergency, failed its biological indicator: packs {packs} "
        "are recalled; follow up the patients of any already used",
    ),
    "bi_failed": ("锅次 {load} 生物监测不合格", "load {load} failed its biological indicator"),
    "pack_recalled": (
        "{pack} 已召回{recall_ref}，禁止使用，请退回",
        "{pack} is recalled{recall_ref}: do not use, send it back",
    ),
    "pack_unusable": (
        "{pack} 当前为「{state}」，不能发放或使用",
        "{pack} is {state} and cannot be issued or used",
    ),
    "pack_expired": (
        "{pack} 已于 {day} 过期，请退回重新处理",
        "{pack} expired after {day}; send it back for reprocessing",
    ),
    "pack_not_released": (
        "{pack} 当前为「{state}」，尚未放行，不能发放",
        "{pack} is {state}, not released; it cannot be issued",
    ),
    "pack_not_at_clinic": (
        "{pack} 当前为「{state}」，尚未在站点签收",
        "{pack} is {state}; it has not been received at the clinic",
    ),
    "set_overdue": (
        "器械包 {set} 在 {site} 已超过 {hours} 小时未回收：请安排回收，或登记丢失",
        "instrument set {set} has been at {site} for more than {hours} h without coming back: "
        "collect it or report it lost",
    ),
    "set_pack_in_use": (
        "{set} 的无菌包 {pack} 当前为「{state}」，仍可使用；器械包不能退回重新处理",
        "{set} is still in its pack {pack}, which is {state} and usable: the set cannot go "
        "back for reprocessing",
    ),
    "pack_wrong_site": (
        "{pack} 发往 {destination}，不能在 {site} 签收；请交回配送员送往 {destination}",
        "{pack} was issued to {destination}, not {site}; hand it back to the courier for "
        "{destination}",
    ),
    "no_packing_record": (
        "{pack} 没有包装记录（包装者、检查者、包装材料），须先包装其器械包",
        "{pack} has no packing record (packer, checker, material); its set must be packed first",
    ),
    "storage_condition_required": (
        "纺织品包装须注明存放环境是否达标，才能计算有效期",
        "a textile pack needs the storage condition to compute its expiry",
    ),
    "count_discrepancy": (
        "清点与基数不符：{items}，器械包暂扣",
        "count differs from the set list: {items}; the set is on hold",
    ),
    "special_pathogen_path": (
        "{set} 为特殊感染器械，须走专用处理流程（专用清洗机）",
        "{set} carries a special pathogen and must take the dedicated path (dedicated washer)",
    ),
    "set_on_hold": ("{set} 暂扣中：{reason}", "{set} is on hold: {reason}"),
    "loaner_untested": (
        "外来器械 {set} 首次使用前须登记参数并完成灭菌效果测试",
        "loaner set {set} needs its parameters and first-use test recorded before processing",
    ),
    # A scanned code that is not a valid Handoff ID (labels.identity gives the English).
    "empty": ("{field}：条码为空", "{field}: {detail}"),
    "bad_length": ("{field}：{text} 长度不对（应为 11 位）", "{field}: {detail}"),
    "bad_character": ("{field}：{text} 含有无效字符", "{field}: {detail}"),
    "unknown_prefix": ("{field}：{text} 不是 Handoff 条码", "{field}: {detail}"),
    "bad_check": ("{field}：{text} 校验位错误（误读或输错），请重新扫描", "{field}: {detail}"),
    "wrong_kind": ("{field}：{text} 条码类型不对", "{field}: {detail}"),
}

MACHINE_STATUS_LABELS: Mapping[str, Label] = {
    "in_service": ("在用", "in service"),
    "out_of_service": ("停用", "out of service"),
    "requalifying": ("再确认中", "requalifying"),
}
CYCLE_STATUS_LABELS: Mapping[str, Label] = {
    "building": ("装载中", "being loaded"),
    "running": ("运行中", "running"),
    "unloaded": ("已卸载待审核", "unloaded, awaiting review"),
    "released": ("已放行", "released"),
    "passed": ("合格", "passed"),
    "failed": ("失败", "failed"),
    "aborted": ("中止", "aborted"),
}
METHOD_LABELS: Mapping[str, Label] = {
    "steam": ("压力蒸汽", "steam"),
    "low_temperature": ("低温", "low-temperature"),
}
FIELD_LABELS: Mapping[str, Label] = {
    "item": ("物品", "item"),
    "actor": ("扫描人", "actor"),
    "counterparty": ("交接对方", "counterparty"),
}


def _label(labels: Mapping[str, Label], code: str, language: Language) -> str:
    pair = labels.get(code)
    return code if pair is None else pair[0 if language == "zh" else 1]


def _duration(minutes_text: str, language: Language) -> str:
    minutes = int(minutes_text)
    hours, rest = divmod(minutes, 60)
    if language == "zh":
        return f"{hours} 小时 {rest} 分钟" if hours else f"{rest} 分钟"
    return f"{hours} h {rest} min" if hours else f"{rest} min"


def render(flag: Flag, language: Language = "en") -> str:
    """The flag as a sentence in ``language``."""
    templates = CATALOGUE.get(flag.code)
    if templates is None:
        return flag.code
    params = dict(flag.params)
    kind = params.get("kind", "")
    values: dict[str, str] = dict(params)
    if kind:
        values["kind"] = _label(KIND_LABELS, kind, language)
    if "state" in params and kind in LIFECYCLES:
        values["state"] = _label(LIFECYCLES[ItemKind(kind)].labels, params["state"], language)
    if "event" in params:
        values["event"] = _label(EVENT_LABELS, params["event"], language)
    if "allowed" in params:
        names = [_label(EVENT_LABELS, e, language) for e in params["allowed"].split(",") if e]
        none = "无（已是最终状态）" if language == "zh" else "nothing (final state)"
        values["allowed"] = ("、" if language == "zh" else ", ").join(names) or none
    if "field" in params:
        values["field"] = _label(FIELD_LABELS, params["field"], language)
    if "role" in params:
        values["role"] = _label(ROLE_LABELS, params["role"], language)
    if "machine_status" in params:
        values["machine_status"] = _label(MACHINE_STATUS_LABELS, params["machine_status"], language)
    if "load_status" in params:
        values["load_status"] = _label(CYCLE_STATUS_LABELS, params["load_status"], language)
    if "method" in params:
        values["method"] = _label(METHOD_LABELS, params["method"], language)
    if "ahead_minutes" in params:
        values["ahead"] = _duration(params["ahead_minutes"], language)
    if "late_minutes" in params:
        values["late"] = _duration(params["late_minutes"], language)
    if "behind_minutes" in params:
        values["behind"] = _duration(params["behind_minutes"], language)
    recall = params.get("recall")
    values["recall_ref"] = (
        "" if not recall else f"（召回单 {recall}）" if language == "zh" else f" (recall {recall})"
    )
    template = templates[0 if language == "zh" else 1]
    try:
        return template.format(**values)
    except KeyError:
        return flag.code


def render_all(flags: Sequence[Flag], language: Language = "en") -> str:
    return ("；" if language == "zh" else "; ").join(render(flag, language) for flag in flags)
