"""The staff's web shell: accounts and roles, sign-in, sessions, CSRF, the security headers, the
layout and templates every desk page uses (`shell.DeskPages`), and the managers' own pages
(staff roles, the audit trail). The features add their pages as sections: the handoff inbox
(`bot.desk.inbox`), the concern register, project news, perception, knowledge gaps."""
