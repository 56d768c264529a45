"""The pages' message catalogue: 中文 (default) and English.

Domain words (states, events, roles, flags) come from the server's own catalogue
(``server.custody.messages`` and the lifecycles), so a state reads the same on a board, a
label and an API answer; this module holds only what the pages themselves say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from server.custody.lifecycle import EVENT_LABELS, LIFECYCLES
from server.custody.messages import (
    CYCLE_STATUS_LABELS,
    KIND_LABELS,
    MACHINE_STATUS_LABELS,
    ROLE_LABELS,
)
from server.enums import ItemKind

Language = Literal["zh", "en"]

MESSAGES: Mapping[str, tuple[str, str]] = {
    "app.name": ("医共体物流追溯", "consortium logistics"),
    "nav.dispatch": ("调度", "Dispatch"),
    "nav.lab": ("检验接收", "Lab receiving"),
    "nav.cssd": ("消毒供应", "Sterile supply"),
    "nav.timeline": ("追溯查询", "Item timeline"),
    "nav.admin": ("系统管理", "Administration"),
    "nav.logout": ("退出", "Log out"),
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.wrong": ("用户名或密码错误", "Wrong username or password"),
    "login.throttled": (
        "登录失败次数过多，请 {seconds} 秒后再试",
        "Too many failed logins; try again in {seconds} s",
    ),
    "login.hint": (
        "设备使用各自的令牌，不在此登录。",
        "Scanning devices use their own tokens and do not log in here.",
    ),
    "error.title": ("出错了", "Something is wrong"),
    "error.home": ("返回首页", "Back to my board"),
    "error.400": ("输入有误", "Bad input"),
    "error.401": ("需要登录", "Log in first"),
    "error.403": ("无权操作", "Not permitted"),
    "error.404": ("未找到", "Not found"),
    "error.409": ("操作被拒绝", "Refused"),
    "error.413": ("内容过大", "Too large"),
    "error.422": ("输入有误", "Bad input"),
    "error.csrf": (
        "页面已过期或来源不明（CSRF 校验失败），请刷新页面后重试。",
        "This page has expired or the request did not come from it (CSRF check failed); "
        "reload the page and try again.",
    ),
    "error.denied": (
        "{role}无权打开此页面（需要：{needs}）",
        "A {role} may not open this (needs: {needs})",
    ),
    "common.none": ("无", "none"),
    "common.day": ("日期", "Day"),
    "common.today": ("今天", "Today"),
    "common.prev": ("前一天", "Previous day"),
    "common.next": ("后一天", "Next day"),
    "common.site": ("站点", "Site"),
    "common.time": ("时间", "Time"),
    "common.item": ("物品", "Item"),
    "common.state": ("状态", "State"),
    "common.count": ("数量", "Count"),
    "common.note": ("说明", "Note"),
    "common.save": ("保存", "Save"),
    "common.done": ("已完成", "Done"),
    "common.refresh": ("自动刷新", "Refreshes by itself"),
    "common.open": ("打开", "Open"),
    "common.print": ("打印", "Print"),
    "common.live": ("实时", "live"),
    # timeline
    "timeline.title": ("物品追溯", "Item timeline"),
    "timeline.scan": ("扫描或输入条码后按回车", "Scan or type a barcode, then Enter"),
    "timeline.go": ("查询", "Look up"),
    "timeline.empty": (
        "扫描任一标本箱、器械包或无菌包的条码。",
        "Scan the barcode of any box, set or pack.",
    ),
    "timeline.now": ("当前", "Now"),
    "timeline.at": ("位置", "At"),
    "timeline.holder": ("持有人", "Held by"),
    "timeline.last": ("最近事件", "Last event"),
    "timeline.flags_open": ("未处理异常 {n} 项", "{n} open flag(s)"),
    "timeline.intact": (
        "校验通过：{n} 个事件，哈希链完整",
        "Verified: {n} events, hash chain intact",
    ),
    "timeline.broken": (
        "校验失败：哈希链已被改动！",
        "Verification FAILED: the hash chain was altered!",
    ),
    "timeline.chain": ("交接记录", "Custody chain"),
    "timeline.by": ("扫描人", "By"),
    "timeline.to": ("交给", "To"),
    "timeline.device": ("终端", "Device"),
    "timeline.received": ("服务器接收", "Received"),
    "timeline.verify_all": ("校验整个台账", "Verify the whole ledger"),
    "timeline.ledger_ok": (
        "台账完整：{n} 个事件，哈希链与投影一致",
        "Ledger intact: {n} events, chain and projections match",
    ),
    "timeline.ledger_bad": ("台账校验失败：{detail}", "Ledger verification failed: {detail}"),
    "timeline.no_item": ("没有条码为 {code} 的物品", "No item has the barcode {code}"),
    "timeline.unknown": ("无法识别", "Not recognised"),
    "timeline.correct": ("更正此记录", "Correct this record"),
    "timeline.correct_field": ("更正项", "What to correct"),
    "timeline.correct_value": ("正确的工牌或备注（空=无）", "Right badge or note (empty: none)"),
    "timeline.correct_reason": ("更正原因（必填）", "Reason (required)"),
    "timeline.correct_go": ("提交更正", "Record the correction"),
    "timeline.field_actor": ("扫描人", "operator"),
    "timeline.field_counterparty": ("交接对象", "counterparty"),
    "timeline.field_note": ("备注", "note"),
    "timeline.corrects": (
        "更正{field}：{before} → {after}（{reason}）",
        "{field} corrected: {before} → {after} ({reason})",
    ),
    # CSSD
    "cssd.title": ("消毒供应中心看板", "Sterile supply board"),
    "cssd.by_state": ("无菌包状态", "Packs by state"),
    "cssd.to_quarantine": ("灭菌结束、待卸载", "Finished, waiting to be unloaded"),
    "cssd.awaiting_release": ("待放行的灭菌批次", "Loads waiting for release"),
    "cssd.awaiting_bi": ("等待生物监测结果", "Loads waiting for a biological indicator"),
    "cssd.release": ("放行", "Release"),
    "cssd.released": ("批次 {load} 已放行", "Load {load} released"),
    "cssd.quarantine": ("卸载并待放行", "Unload to quarantine"),
    "cssd.quarantined": ("批次 {load} 已卸载，待放行", "Load {load} unloaded into quarantine"),
    "cssd.cooling": ("冷却分钟", "Cooling minutes"),
    "cssd.ci_passed": ("化学指示物合格", "Chemical indicator passed"),
    "cssd.wet_packs": ("湿包（条码，逗号分隔）", "Wet packs (barcodes, comma-separated)"),
    "cssd.bi_pass": ("生物监测合格", "BI passed"),
    "cssd.bi_fail": ("生物监测不合格（召回）", "BI failed (recall)"),
    "cssd.bi_recorded": ("批次 {load} 生物监测结果已记录", "BI result recorded for load {load}"),
    "cssd.bi_recall": ("生物监测不合格，已启动召回 {recall}", "BI failed: recall {recall} started"),
    "cssd.confirm_fail": (
        "确认生物监测不合格？将召回该灭菌器自上次合格以来的全部无菌包。",
        "Record a failed BI? Every pack since the last passed BI on this sterilizer "
        "will be recalled.",
    ),
    "cssd.emergency": (
        "紧急放行（植入物，生物监测前）",
        "Emergency release (implants, before the BI)",
    ),
    "cssd.type5": ("第 5 类化学指示物合格", "Type 5 chemical indicator passed"),
    "cssd.approver": ("批准人工牌", "Approver's badge"),
    "cssd.compromise": ("无菌包隔离（包装受损）", "Quarantine a pack (compromised)"),
    "cssd.compromise_pack": ("扫描无菌包条码", "Scan the pack"),
    "cssd.compromise_reason": ("原因", "Reason"),
    "cssd.compromise_go": ("隔离", "Quarantine"),
    "cssd.compromised": (
        "{pack} 已隔离，退回重新处理",
        "{pack} quarantined and sent back for reprocessing",
    ),
    "cssd.recalls": ("召回", "Recalls"),
    "cssd.recall_report": ("召回报告", "Recall report"),
    "cssd.recall_since": ("自", "Since"),
    "cssd.recall_loads": ("涉及批次", "Loads"),
    "cssd.recall_sites": ("已通知站点", "Sites notified"),
    "cssd.recall_patient": ("患者", "Patient"),
    "cssd.expiring": ("即将过期（{days} 天内）", "Expiring within {days} days"),
    "cssd.overdue": ("逾期未回收的器械包", "Overdue sets"),
    "cssd.on_hold": ("暂扣的器械包", "Sets on hold"),
    "cssd.machines": ("灭菌器与清洗机", "Sterilizers and washers"),
    "cssd.load": ("批次", "Load"),
    "cssd.machine": ("设备", "Machine"),
    "cssd.packs": ("包数", "Packs"),
    "cssd.implant": ("植入物", "implant"),
    "cssd.pack": ("无菌包", "Pack"),
    "cssd.holder": ("持有人", "Holder"),
    # lab
    "lab.title": ("检验接收看板", "Laboratory receiving board"),
    "lab.expected": ("今日应到（按卫生院）", "Expected by clinic"),
    "lab.clinic": ("卫生院", "Clinic"),
    "lab.expected_n": ("应到", "Expected"),
    "lab.received_n": ("已接收", "Received"),
    "lab.on_way_n": ("在途", "On the way"),
    "lab.late_n": ("超时", "Late"),
    "lab.rejected_n": ("拒收", "Rejected"),
    "lab.boxes": ("标本箱", "Boxes"),
    "lab.deadline": ("时限", "Deadline"),
    "lab.received_at": ("接收时间", "Received at"),
    "lab.late": ("超时", "late"),
    "lab.discrepancies": ("待处理差异", "Open discrepancies"),
    "lab.kind": ("类型", "Kind"),
    "lab.trip": ("行程", "Trip"),
    "lab.resolve": ("处理", "Resolve"),
    "lab.explained": ("已说明", "Explained"),
    "lab.resolved_state": ("已解决", "Resolved"),
    "lab.resolved": ("差异已处理", "Discrepancy resolved"),
    "lab.alerts": ("告警", "Alerts"),
    "lab.close_alert": ("关闭", "Close"),
    "lab.alert_closed": ("告警已关闭", "Alert closed"),
    "lab.scan": ("扫描到达的标本箱，回车接收", "Scan an arriving box, Enter to receive"),
    "lab.seal_intact": ("封条完好", "Seal intact"),
    "lab.count": ("件数", "Count"),
    "lab.temperature": ("温度 °C", "Temp. °C"),
    "lab.courier_badge": ("配送员工牌（可选）", "Courier badge (optional)"),
    "lab.receive": ("接收", "Receive"),
    "lab.accept": ("验收合格", "Accept"),
    "lab.reject": ("拒收", "Reject"),
    "lab.reject_why": ("拒收原因", "Why rejected"),
    "lab.reject_reason": ("拒收须说明原因", "A rejection needs its reason"),
    "lab.no_day": (
        "当天没有行程。最近有行程的日期：",
        "No trips on this day. Latest day with trips:",
    ),
    "disc.missing": ("漏取", "missing"),
    "disc.extra": ("清单外", "not on the manifest"),
    "disc.misrouted": ("送错站点", "misrouted"),
    # dispatch
    "dispatch.title": ("调度看板", "Dispatcher day board"),
    "dispatch.work": ("今日待取送", "Work waiting"),
    "dispatch.sealed": ("待取标本箱", "Sealed boxes"),
    "dispatch.sets": ("待回收器械包", "Sets to collect"),
    "dispatch.packs": ("待送无菌包", "Packs to deliver"),
    "dispatch.trips": ("行程", "Trips"),
    "dispatch.courier": ("配送员", "Courier"),
    "dispatch.vehicle": ("车辆", "Vehicle"),
    "dispatch.stops": ("站点", "Stops"),
    "dispatch.progress": ("进度", "Progress"),
    "dispatch.sheet": ("路线单", "Route sheet"),
    "dispatch.map": ("地图", "Map"),
    "dispatch.no_tiles": (
        "未配置地图瓦片服务，仅显示站点与路线。",
        "No tile server configured: sites and routes on a plain background.",
    ),
    "dispatch.pickups": ("取", "Pick up"),
    "dispatch.drops": ("送", "Drop"),
    "dispatch.planned": ("计划到达", "Planned"),
    "dispatch.completed": ("已返回", "Back"),
    "dispatch.last_scan": ("最近扫描", "Last scan"),
    "dispatch.sheet_title": ("路线单与交接清单", "Route sheet and manifest"),
    "dispatch.signature": ("签字", "Signature"),
    "dispatch.plan": ("规划路线", "Plan routes"),
    "dispatch.planning": ("正在规划…", "Planning…"),
    "dispatch.plan_seconds": ("求解时间（秒）", "Search time (s)"),
    "dispatch.plan_done": (
        "已规划 {routes} 条路线，共行驶约 {minutes} 分钟；行程与清单已生成",
        "Planned {routes} route(s), about {minutes} min of driving; trips and manifests made",
    ),
    "dispatch.plan_failed": ("规划失败：{error}", "Planning failed: {error}"),
    "dispatch.unserved": ("{n} 项未能安排：", "{n} item(s) could not be planned:"),
    # admin
    "admin.title": ("系统管理", "Administration"),
    "admin.sites": ("站点", "Sites"),
    "admin.people": ("人员", "People"),
    "admin.devices": ("终端", "Devices"),
    "admin.roles": ("角色", "Roles"),
    "admin.code": ("代码", "Code"),
    "admin.kind": ("类型", "Kind"),
    "admin.name_zh": ("中文名称", "Chinese name"),
    "admin.name_en": ("英文名称", "English name"),
    "admin.latitude": ("纬度", "Latitude"),
    "admin.longitude": ("经度", "Longitude"),
    "admin.add_site": ("新增站点", "Add a site"),
    "admin.site_added": ("站点 {code} 已新增", "Site {code} added"),
    "admin.name": ("姓名", "Name"),
    "admin.role": ("角色", "Role"),
    "admin.home": ("所属站点", "Home site"),
    "admin.username": ("用户名", "Username"),
    "admin.password": ("初始密码（至少 8 位）", "First password (8+ characters)"),
    "admin.badge": ("工牌", "Badge"),
    "admin.active": ("在用", "Active"),
    "admin.add_person": ("新增人员", "Add a person"),
    "admin.person_added": ("{name} 已新增，工牌 {badge}", "{name} added, badge {badge}"),
    "admin.role_changed": ("{name} 的角色已改为{role}", "{name} is now a {role}"),
    "admin.change_role": ("改角色", "Change role"),
    "admin.disable": ("停用", "Disable"),
    "admin.enable": ("启用", "Enable"),
    "admin.now_active": ("{name} 已启用", "{name} is enabled"),
    "admin.now_inactive": ("{name} 已停用", "{name} is disabled"),
    "admin.not_yourself": ("不能停用自己的账号", "You cannot disable your own login"),
    "admin.device_name": ("终端名称", "Device name"),
    "admin.add_device": ("新增终端", "Add a device"),
    "admin.rotate": ("更换令牌", "New token"),
    "admin.token_once": (
        "终端 {name}（{barcode}）的令牌如下，只显示这一次，请立即配置到终端：",
        "The token of device {name} ({barcode}), shown this once only; "
        "put it in the agent's configuration now:",
    ),
    "admin.last_seen": ("最近联系", "Last seen"),
    "admin.role_does": ("职责", "What they do"),
    "admin.people_n": ("人数", "People"),
    "test.biological_indicator": ("生物监测不合格", "failed biological indicator"),
    "test.bowie_dick": ("B-D 试验不合格", "failed Bowie-Dick test"),
    "site.county_hospital": ("县医院", "county hospital"),
    "site.laboratory": ("检验中心", "laboratory"),
    "site.pathology": ("病理中心", "pathology centre"),
    "site.cssd": ("消毒供应中心", "sterile supply (CSSD)"),
    "site.township_clinic": ("乡镇卫生院", "township clinic"),
    "role.admin": (
        "用户、角色、终端；校验台账；导出记录",
        "users, roles, devices; verify the ledger; export records",
    ),
    "role.dispatcher": (
        "维护站点与配送员，规划路线，打印路线单，跟踪配送",
        "sites and couriers, plan routes, print route sheets, follow couriers",
    ),
    "role.courier": ("扫描每次交接，离线也可工作", "scan every handoff, works offline"),
    "role.cssd_staff": (
        "接收、清洗、包装、灭菌、放行、召回、发放",
        "receive, wash, pack, sterilize, release, recall, dispatch",
    ),
    "role.lab_receiver": (
        "接收标本箱：验封、计数、测温；拒收或验收",
        "receive boxes: seal, count, temperature; accept or reject",
    ),
    "role.clinic_staff": (
        "封箱、打印标签、交接器械、接收无菌包、记录使用",
        "seal boxes, print labels, hand over sets, receive packs, record use",
    ),
}


def t(lang: Language, key: str, **params: Any) -> str:
    """The message ``key`` in ``lang``, with ``params`` filled in; the key if unknown."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[0 if lang == "zh" else 1]
    try:
        return text.format(**params) if params else text
    except (KeyError, IndexError, ValueError):
        return text


def _pick(pair: tuple[str, str] | None, lang: Language, fallback: str) -> str:
    return fallback if pair is None else pair[0 if lang == "zh" else 1]


def role_label(lang: Language, role: str) -> str:
    return _pick(ROLE_LABELS.get(role), lang, role)


def state_label(lang: Language, kind: str, state: str) -> str:
    lifecycle = LIFECYCLES.get(ItemKind(kind)) if kind in ItemKind.__members__ else None
    return _pick(lifecycle.labels.get(state) if lifecycle else None, lang, state)


def event_label(lang: Language, event: str) -> str:
    return _pick(EVENT_LABELS.get(event), lang, event)


def kind_label(lang: Language, kind: str) -> str:
    return _pick(KIND_LABELS.get(kind), lang, kind)


def cycle_status_label(lang: Language, status: str) -> str:
    return _pick(CYCLE_STATUS_LABELS.get(status), lang, status)


def machine_status_label(lang: Language, status: str) -> str:
    return _pick(MACHINE_STATUS_LABELS.get(status), lang, status)
