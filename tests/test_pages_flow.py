"""Each role's main flow in a real Chromium against `zhunru serve --demo`: the district office
approves, refuses (and prints the notice) and withdraws; the community sees what was admitted,
reports a demand that reached it without admission and asks for a withdrawal; the auditor reads
and cannot act. Screenshots are kept in test-artifacts/."""
from __future__ import annotations

import pytest

from web import browser, call, click_and_wait, demo, login, logout, phone, screenshot  # noqa: F401 - fixtures

By = pytest.importorskip("selenium.webdriver.common.by").By


def text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "main").text


def submit(driver, form_action: str, note: str | None = None) -> None:
    form = driver.find_element(By.CSS_SELECTOR, f"form[action='{form_action}']")
    if note is not None:
        form.find_element(By.TAG_NAME, "textarea").send_keys(note)
    click_and_wait(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def decision_id(base: str, request_id: str, token_page_driver) -> str:
    token_page_driver.get(f"{base}/decisions/{request_id}")
    form = token_page_driver.find_elements(By.CSS_SELECTOR, "form.act")
    return form[0].get_attribute("action").split("/")[-2] if form else request_id


def test_the_queue_on_a_phone(demo, phone):
    login(phone, demo.base, "qxg-office", demo.password)
    assert "demo-001" in phone.find_element(By.ID, "queue").text  # before the flow below acts on it
    assert phone.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "queue-phone")


def test_the_district_office_and_the_community_in_chromium(demo, browser):
    base, password = demo.base, demo.password

    # 待审批: the approver of 七星关区 sees its district's requests, not 大方县's
    login(browser, base, "qxg-office", password)
    assert browser.current_url.endswith("/queue")
    queue = text(browser)
    assert "demo-001" in queue and "demo-002" in queue and "demo-005" not in queue
    screenshot(browser, "queue-approver")

    # approve demo-001 with a note; refuse demo-002 with a reason, and print its notice
    ident = decision_id(base, "demo-001", browser)
    assert "须经审批" in text(browser) and "理由和依据" in text(browser)
    submit(browser, f"/decisions/{ident}/approve", "2026年第3次主任会议通过")
    assert "申请 demo-001 已批准" in text(browser) and "demo-001" not in browser.find_element(By.ID, "queue").text
    ident2 = decision_id(base, "demo-002", browser)
    submit(browser, f"/decisions/{ident2}/refuse", "消防巡查属消防部门职责")
    assert "申请 demo-002 已拒绝" in text(browser)
    browser.get(f"{base}/decisions/demo-002")
    assert "不予准入(区社区办拒绝)" in text(browser) and "消防巡查属消防部门职责" in text(browser)
    click_and_wait(browser, browser.find_element(By.ID, "notice"))
    notice = browser.find_element(By.TAG_NAME, "body").text
    assert "社区工作事项不予准入告知书" in notice and "消防巡查属消防部门职责" in notice
    assert "准入告〔20" in notice and "七星关区城市社区建设工作领导协调机构" in notice and "(盖章)" in notice
    screenshot(browser, "notice")
    browser.get(base + "/")
    logout(browser)

    # 本社区: 洪山社区 sees demo-001 (approved) as admitted, reports a demand, asks for a withdrawal
    login(browser, base, "hongshan", password)
    assert browser.current_url.endswith("/community")
    admitted = browser.find_element(By.ID, "admitted").text
    assert "社区应急演练组织" in admitted and "七星关区应急管理局" in admitted
    click_and_wait(browser, browser.find_element(By.ID, "report"))
    browser.find_element(By.ID, "department").send_keys("七星关区统计局")
    browser.find_element(By.ID, "matter").send_keys("入户经济普查")
    click_and_wait(browser, browser.find_element(By.ID, "submit-report"))
    assert "/decisions/" in browser.current_url
    # off Bijie's partial lists it is not refused outright: it awaits the district body, and without funds
    # or staff the community need not take it on meanwhile (the unfunded notice)
    assert "须经审批" in browser.find_element(By.ID, "outcome").text
    assert browser.find_elements(By.ID, "notice")  # the notice to hand to the department
    screenshot(browser, "community-report")
    browser.get(base + "/community")
    row = browser.find_element(By.XPATH, "//table[@id='admitted']//tr[contains(., '社区应急演练组织')]")
    row.find_element(By.TAG_NAME, "summary").click()
    row.find_element(By.TAG_NAME, "textarea").send_keys("经费一直未到位")
    click_and_wait(browser, row.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert "撤销申请已提交区社区办" in text(browser)
    assert "入户经济普查" in browser.find_element(By.ID, "others").text  # the reported demand, refused
    screenshot(browser, "community")
    logout(browser)

    # the approver sees the community's request to withdraw and withdraws the admission
    login(browser, base, "qxg-office", password)
    asks = browser.find_element(By.ID, "asks").text
    assert "demo-001" in asks and "经费一直未到位" in asks
    browser.get(f"{base}/decisions/demo-001")
    submit(browser, f"/decisions/{ident}/withdraw", "经费未到位,撤销")
    assert "已撤销" in browser.find_element(By.ID, "withdrawn").text
    assert not browser.find_elements(By.ID, "asks")
    logout(browser)

    # the auditor reads everything and is offered no act
    login(browser, base, "auditor", password)
    browser.get(f"{base}/decisions/demo-002")
    assert "消防巡查属消防部门职责" in text(browser) and not browser.find_elements(By.CSS_SELECTOR, "form.act")
    status, answer = call(base, "GET", "/api/v1/log/verify")
    assert status == 401

    # 社区减负 report: the chart and the table; a half comparison is a clear error
    browser.get(f"{base}/report")
    assert browser.find_elements(By.CSS_SELECTOR, "#chart svg") and "七星关区" in text(browser), text(browser)
    screenshot(browser, "report")
    xlsx = browser.find_element(By.ID, "report-xlsx").get_attribute("href")
    assert xlsx.startswith(f"{base}/report.xlsx")
    browser.get(f"{base}/report?before=2026-01-01..")
    assert "after: a comparison needs two periods" in text(browser)
    browser.get(f"{base}/report?before=..2025-12-31&after=2026-01-01..")
    assert "变化(之后 − 之前)" in text(browser)
    browser.get(f"{base}/funding")  # read-only for the auditor: no form to record
    assert "洪山社区" in browser.find_element(By.ID, "communities").text and not browser.find_elements(By.ID, "record")
    logout(browser)

    # 经费: the district office records an allocation; the shortfall shrinks by it
    login(browser, base, "qxg-office", password)
    browser.get(f"{base}/funding")
    before = browser.find_element(By.ID, "total-shortfall").text
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "community")).select_by_value("QX-001")
    browser.find_element(By.ID, "amount").send_keys("32800")
    browser.find_element(By.ID, "document").send_keys("毕财发〔2026〕5号")
    click_and_wait(browser, browser.find_element(By.ID, "record"))
    assert "已记录 QX-001 的拨款" in text(browser)
    after = browser.find_element(By.ID, "total-shortfall").text
    assert float(before) - float(after) == 32800
    assert "大方县" not in browser.find_element(By.ID, "communities").text
    screenshot(browser, "funding")
