from tests.conftest import password_login


def test_admin_can_sign_in_and_open_the_panel(admin_client):
    page = admin_client.get("/admin/")
    assert page.status_code == 200
    assert "Dashboard" in page.get_data(as_text=True)


def test_wrong_password_is_refused(client, admin):
    response = password_login(client, "root", "wrong password!")
    assert response.status_code == 200
    assert "Wrong username" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
