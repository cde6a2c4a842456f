"""The console's words in Chinese (the default) and English (per user).

Messages are written in English in the code and templates (`_("Runs")`); ZH gives each its
Chinese. tests/orchestrator/console/test_i18n.py checks that every message used has one.
"""

from __future__ import annotations

from typing import Any

ZH: dict[str, str] = {
    # roles
    "admin": "管理员", "operator": "运维", "author": "开发者", "reviewer": "复核员",
    "viewer": "查看者", "worker": "工作站",
    # navigation
    "Today": "今日", "Runs": "运行记录", "Robots": "机器人", "Schedules": "计划",
    "Queues": "工作队列", "Workers": "工作站", "Credentials": "凭据", "Audit log": "审计",
    "KPI board": "效益看板", "Users": "用户", "Sign out": "退出", "Account": "账户",
    "Workhand console": "Workhand 控制台", "Times in": "时区",
    # sign-in and account
    "Sign in": "登录", "User name": "用户名", "Password": "密码",
    "wrong user name or password": "用户名或密码错误",
    "this account is disabled; ask an admin": "该账户已停用，请联系管理员",
    "Too many failed sign-ins; try again in {minutes} minute(s), or ask an admin to set a new "
    "password.": "登录失败次数过多，请 {minutes} 分钟后再试，或请管理员重置密码。",
    "Your session has ended; sign in again.": "会话已结束，请重新登录。",
    "Choose a new password": "设置新密码", "Current password": "当前密码",
    "New password": "新密码", "New password again": "再次输入新密码",
    "The two new passwords differ.": "两次输入的新密码不一致。",
    "The current password is wrong.": "当前密码错误。",
    "This password was made for you; choose your own before going on.":
        "此密码为临时密码，请先设置您自己的密码。",
    "Save": "保存", "Language": "语言", "Password changed.": "密码已修改。",
    "the password has {count} characters; it needs at least {least}":
        "密码只有 {count} 个字符，至少需要 {least} 个",
    "the password must not contain the user name": "密码不能包含用户名",
    "the new password must differ from the old one": "新密码不能与旧密码相同",
    # errors
    "This form is out of date or did not come from the console (CSRF check failed); reload "
    "the page and try again.": "表单已过期或并非来自控制台（CSRF 校验失败），请刷新页面后重试。",
    "Your role ({role}) cannot do this; it needs one of: {allowed}.":
        "您的角色（{role}）无权执行此操作，需要以下角色之一：{allowed}。",
    "Not allowed": "无权操作", "Not found": "未找到", "Something is wrong": "出错了",
    "Back to the console": "返回控制台",
    # states and outcomes
    "queued": "排队中", "running": "运行中", "succeeded": "成功", "failed": "失败",
    "cancelled": "已取消", "retrying": "等待重试", "done": "完成",
    "business_exception": "业务异常（转人工）", "system_error": "系统错误",
    "passed": "通过", "skipped": "已跳过", "new": "待处理", "in_progress": "处理中",
    "abandoned": "已放弃", "timed_out": "超时",
    # today
    "Runs today": "今日运行", "Running now": "正在运行", "Needs attention": "需要处理",
    "Hours saved today": "今日节省工时", "Hours saved this month": "本月节省工时",
    "Items left": "剩余事项", "Time to clear": "预计清空", "Queue": "队列",
    "No run is running.": "当前没有运行中的机器人。",
    "No failure today.": "今日没有失败。", "No queue yet.": "暂无工作队列。",
    "Failures": "失败次数", "Last": "最近", "Step": "步骤", "Message": "信息",
    "unknown": "未知",
    # runs
    "Robot": "机器人", "State": "状态", "Worker": "工作站", "From": "起", "To": "止",
    "Filter": "筛选", "Clear": "清除", "Started": "开始", "Finished": "结束",
    "Duration": "耗时", "Items": "事项", "Source": "来源", "Created": "创建",
    "all": "全部", "Older": "更早", "Newest": "最新", "No run matches.": "没有符合条件的运行。",
    "Cancel": "取消", "Cancel the selected runs": "取消所选运行",
    "Cancel all {count} unfinished runs shown by this filter":
        "取消此筛选下全部 {count} 个未结束的运行",
    "Select the runs first (the boxes on the left).": "请先勾选要操作的运行（左侧复选框）。",
    "Cancel {count} run(s)?": "确定取消 {count} 个运行？",
    "Run": "运行", "Attempt": "尝试", "Outcome": "结果", "Screenshot": "截图",
    "Artifacts": "产出文件", "Event log": "事件日志", "Work items": "工作事项",
    "Step timeline": "步骤时间线", "Error": "错误", "Inputs": "输入", "Result": "结果",
    "Cancel this run?": "确定取消此运行？", "Cancel requested": "已请求取消",
    "Reference": "编号", "Size": "大小", "Time": "时间", "Type": "类型",
    "Retry": "重试", "Retry only the failed items": "仅重试失败事项",
    "Retry this run?": "确定重试此运行？",
    "Retry only the items that did not end done?": "仅重试未完成的事项？",
    "Retry the selected runs": "重试所选运行", "Retry {count} run(s)?": "确定重试 {count} 个运行？",
    "{count} run(s) cancelled.": "已取消 {count} 个运行。",
    "{count} run(s) started again.": "已重新启动 {count} 个运行。",
    "Select": "选择", "Selected": "已选", "A retry of": "重试自",
    "{count} item(s) done before are skipped": "跳过此前已完成的 {count} 个事项",
    # audit
    "Who": "操作人", "Action": "操作", "Object": "对象", "When": "时间",
    "Address": "来源地址", "Status": "状态码", "Since": "起", "Until": "止",
    "No entry matches.": "没有符合条件的记录。", "Detail": "详情",
    # users and credentials
    "Create": "创建", "New user": "新用户", "Role": "角色", "Name": "名称", "Fields": "字段",
    "Hosts": "可发送到的主机", "Updated": "更新时间", "active": "启用", "disabled": "已停用",
    "disable": "停用", "enable": "启用", "reset": "重置密码",
    "One-time password for {name}:": "{name} 的一次性密码：",
    "shown once; they choose their own at the first sign-in.":
        "仅显示一次；首次登录时须设置自己的密码。",
    "Credential {name} saved.": "凭据 {name} 已保存。",
    "Fields, one 'field: value' per line": "字段，每行一个“字段: 值”",
    "Hosts it may be sent to (optional, one per line)": "可发送到的主机（可选，每行一个）",
    "any host the worker allows": "工作站允许的任何主机",
    "Set or rotate a credential": "设置或轮换凭据",
    "Robots use a credential as ${credentials.NAME.FIELD}. Values are encrypted and never "
    "shown, here or anywhere; set a credential again to rotate it.":
        "机器人以 ${credentials.名称.字段} 使用凭据。凭据值加密保存，在此处及任何地方都不会显示；"
        "再次设置即可轮换。",
    # robots
    "Title": "名称", "Owner": "负责人", "Runs (30 days)": "运行次数（30 天）",
    "Hours saved (30 days)": "节省工时（30 天）", "No robot is deployed yet.": "尚未部署机器人。",
    "Start a run": "启动运行", "Start": "启动", "Some inputs need a fix.": "部分输入有误，请修改。",
    "This robot has no inputs.": "此机器人没有输入项。", "Recent runs": "最近运行",
    "paused": "已暂停", "No schedule runs this robot.": "没有计划运行此机器人。",
    "Versions": "版本", "Version": "版本", "Deployed": "部署时间", "current": "当前",
    "Deployed by": "部署人",
    "Compare A with B": "比较 A 与 B",
    # schedules, queues, workers
    "Schedule": "计划", "Next fires": "下次触发", "Recent fires": "最近触发",
    "disabled in its file": "计划文件中已停用", "Pause": "暂停", "Resume": "恢复",
    "Run now": "立即运行", "No schedule yet.": "暂无计划。",
    "Attempts": "尝试次数", "History": "历史", "No item matches.": "没有符合条件的事项。",
    "More": "更多", "Abandon": "放弃",
    "Add items from an Excel or CSV file": "从 Excel 或 CSV 文件添加事项",
    "File": "文件", "Column holding each item's reference": "事项编号所在列", "Add": "添加",
    "Online": "在线", "Runs waiting for a worker": "等待工作站的运行", "Labels": "标签",
    "Last heartbeat": "最近心跳", "Current runs": "当前运行", "Busy over 24 h": "24 小时利用率",
    "online": "在线", "offline": "离线", "No worker has called yet.": "尚无工作站连接。",
    "Slots": "槽位", "Free slots": "空闲槽位",
    "This worker has not said how many slots it has.": "此工作站尚未报告其槽位数。",
    "{online} worker(s) online, {slots} slot(s) in all, {free} free; {waiting} run(s) waiting":
        "在线 {online} 台，共 {slots} 个槽位，空闲 {free} 个；等待中的运行 {waiting} 个",
    # kpi
    "Hours saved": "节省工时", "Runs done": "运行次数", "Items done": "完成事项",
    "Handed back": "转人工", "Success rate": "成功率", "Robot minutes": "机器人分钟",
    "FTE": "等效人力（FTE）", "Cost saved": "节省成本", "Total": "合计",
    "By": "按", "day": "日", "week": "周", "month": "月", "Export to Excel": "导出 Excel",
    "Hours saved over time, by robot": "节省工时趋势（按机器人）",
    "Items done and handed back": "完成与转人工事项", "How the figures are made": "计算方法",
    "hours saved = minutes saved ÷ 60; minutes saved = items done × minutes per item − items "
    "handed back × review minutes (per robot, as the robot declares them)":
        "节省工时 = 节省分钟 ÷ 60；节省分钟 = 完成事项 × 每事项分钟数 − 转人工事项 × 复核分钟数"
        "（按机器人声明）",
    "FTE = hours saved ÷ {hours} hours per FTE-year": "等效人力 = 节省工时 ÷ 每人年 {hours} 小时",
    "cost saved = hours saved × {cost} per hour": "节省成本 = 节省工时 × 每小时 {cost}",
    "success rate = successful runs ÷ runs": "成功率 = 成功运行 ÷ 运行次数",
    "Build cost": "建设成本", "Paid back": "回本日期", "expected {day}": "预计 {day}",
    "not yet": "尚未回本",
    "paid back: the day the cost saved since the robot's first run passed its build cost "
    "(savings.build_cost); not yet: the day it will at the last 30 days' pace":
        "回本日期：自首次运行起累计节省成本超过建设成本（savings.build_cost）之日；"
        "尚未回本时按近 30 天的速度预计",
    # daily report (日报): the mail, its PDF and charts, the console's page
    "Daily report": "日报", "Workhand daily report {day}": "Workhand 机器人日报 {day}",
    "Business day {day} in {zone}; month to date: {start} to {day}.":
        "业务日 {day}（{zone}）；本月累计：{start} 至 {day}。",
    "Summary": "概览", "The day": "当日", "Month to date": "本月累计",
    "Succeeded": "成功", "Failed": "失败", "System errors": "系统错误",
    "Runs by state": "运行状态", "Per robot": "各机器人",
    "Failures by cause": "失败原因", "No run failed on this day.": "当日没有失败的运行。",
    "No run on this day.": "当日没有运行。", "No run this month.": "本月没有运行。",
    "The figures are those of the KPI board (GET /api/v1/kpi) for the same days.":
        "以上数字与同期效益看板（GET /api/v1/kpi）一致。",
    "Hours saved per robot, {start} to {end}": "各机器人节省工时（{start} 至 {end}）",
    "Day of the month": "日期", "Items done and handed back on {day}": "{day} 完成与转人工事项",
    "Runs: {runs} (succeeded {good}, failed {bad})": "运行：{runs} 次（成功 {good}，失败 {bad}）",
    "Items done: {done}; handed back: {back}; system errors: {errors}":
        "完成事项：{done}；转人工：{back}；系统错误：{errors}",
    "Hours saved: {day} (month to date {month})": "节省工时：{day}（本月累计 {month}）",
    "The report with its charts is in the HTML part and the PDF attached.":
        "含图表的完整日报见邮件正文（HTML）及所附 PDF。",
    "workhand-daily-report-{day}.pdf": "Workhand机器人日报-{day}.pdf",
    "After the business day closes, management gets the day's figures by mail, with charts "
    "and a PDF. The figures are those of the KPI board.":
        "每个业务日结束后，管理层会收到当日数字的邮件，附图表及 PDF；数字与效益看板一致。",
    "Settings": "设置", "Send the daily report": "发送日报",
    "Send time (the report of the day before)": "发送时间（发送前一日的日报）",
    "Recipients, one per line (e.g. 行长 <president@bank.cn>)":
        "收件人，每行一个（例如 行长 <president@bank.cn>）",
    "Language of the report": "日报语言", "Mail server (SMTP)": "邮件服务器（SMTP）",
    "Host": "主机", "Port (0: 25, or 465 with SSL)": "端口（0：25，使用 SSL 时为 465）",
    "kept in the vault; leave empty to keep it": "已保存在凭据库中；留空则保持不变",
    "leave empty to use SMTP_PASSWORD": "留空则使用环境变量 SMTP_PASSWORD",
    "From address": "发件人", "Preview or send a day": "预览或发送某日日报", "Day": "日期",
    "Preview": "预览", "Send now": "立即发送", "Recent sends": "最近发送",
    "Recipients": "收件人", "Sent by": "发送者", "the service": "后台服务",
    "No report has been sent yet.": "尚未发送过日报。",
    "sending": "发送中", "sent": "已发送",
    "Settings saved.": "设置已保存。", "The report of {day} was sent.": "{day} 的日报已发送。",
    "The report of {day} could not be sent; the error is in the list below.":
        "{day} 的日报发送失败，错误信息见下方列表。",
    "the send time '{value}' must be HH:MM, e.g. 08:00": "发送时间“{value}”应为 HH:MM，例如 08:00",
    "the language must be zh or en, not '{value}'": "语言应为 zh 或 en，而不是“{value}”",
    "the SMTP port {value} must be 1 to 65535": "SMTP 端口 {value} 应在 1 到 65535 之间",
    "choose SSL or STARTTLS, not both": "SSL 与 STARTTLS 只能选择其一",
    "the from address must be exactly one email address": "发件人必须是一个邮箱地址",
    "an address is not right: {problem}": "邮箱地址有误：{problem}",
    "the report is enabled but has no recipient": "日报已启用，但没有收件人",
    "the report of {day} is being sent right now; wait a minute": "{day} 的日报正在发送，请稍候",
    # review (复核): what robots hand to people, four-eyes on accounts and amounts
    "Review": "复核", "in_review": "待复核", "reviewed": "已复核", "open": "待复核",
    "awaiting_second": "待二次复核", "approved": "已通过", "rejected": "已退回",
    "identical": "一致", "different": "不一致", "unsure": "不确定",
    "all queues": "全部队列", "Reason": "原因", "Handed over": "提交复核时间",
    "changed by {who}": "{who} 已修改", "Nothing waits for review.": "暂无待复核事项。",
    "Decided: {what}": "已处理：{what}",
    "approved items go to {queue}": "通过后进入队列 {queue}",
    "Saved: the change waits for a second reviewer.": "已保存：该修改需由另一位复核员批准。",
    "Four-eyes: a second reviewer must approve": "双人复核：需另一位复核员批准",
    "{who} changed {field}: {before} → {after}": "{who} 将{field}由 {before} 改为 {after}",
    "You made this change: another reviewer must approve it.":
        "此修改由您做出，须由另一位复核员批准。",
    "Approve the change": "批准修改", "Field": "字段", "Document": "单据截图",
    "System value": "系统值", "Document value": "单据值", "Confidence": "置信度",
    "Verdict": "比对结果", "Correction": "更正", "four-eyes": "双人复核",
    "a change needs a second reviewer": "修改须由第二位复核员批准", "no image": "无截图",
    "Correct {field}": "更正{field}",
    "Accept the system's values": "确认系统值", "Accept the document's values": "采用单据值",
    "Save corrections": "保存更正", "Reason to reject": "退回原因", "Reject": "退回",
    "Next item": "下一项", "Back to the list": "返回列表", "Keyboard": "键盘操作",
    "next field": "下一个字段", "previous field": "上一个字段",
    "correct the field: type the value, Enter saves, Esc goes back":
        "更正该字段：输入正确值，回车保存，Esc 返回",
    "accept the system's values": "确认系统值", "accept the document's values": "采用单据值",
    "save the corrections": "保存更正", "reject: type the reason, Enter rejects":
        "退回：输入原因，回车退回",
    "approve another reviewer's change": "批准另一位复核员的修改", "next item": "下一项",
    "Decided by {who}": "复核人：{who}", "second reviewer: {who}": "第二复核人：{who}",
}


def text(message: str, language: str, **values: Any) -> str:
    """The message in the language, with {name} values filled in."""
    chosen = ZH.get(message, message) if language == "zh" else message
    return chosen.format(**values) if values else chosen
