// The local web chat. Every text is inserted with textContent (never as markup);
// only http(s) URLs become links.
(() => {
  "use strict";
  const UI = {
    fr: { label: "Votre message", placeholder: "Écrivez votre message…", send: "Envoyer",
          badge: "Assistant automatisé (robot), pas une personne", error: "Le message n'a pas pu être envoyé. Réessayez dans un instant.",
          busy: "Trop de messages à la fois : votre message n'a pas été envoyé. Attendez quelques secondes et renvoyez-le." },
    en: { label: "Your message", placeholder: "Write your message…", send: "Send",
          badge: "Automated assistant (a bot), not a person", error: "The message could not be sent. Please try again in a moment.",
          busy: "Too many messages at once: yours was not sent. Wait a few seconds and send it again." },
  };
  const list = document.getElementById("messages");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const send = document.getElementById("send");
  const buttons = document.querySelectorAll(".languages button");

  // The conversation's id is issued by the server with the first answer and kept in this
  // browser only; it is sent in a header or the message body, never in a URL.
  let conversation = localStorage.getItem("voisinage.conversation");
  const withConversation = () => (conversation ? { "X-Conversation": conversation } : {});
  let language = localStorage.getItem("voisinage.language") || (navigator.language || "fr").slice(0, 2);
  if (!UI[language]) language = "fr";
  let chosen = null;  // a language picked with the buttons, sent once with the next message

  function addMessage(text, who) {
    const item = document.createElement("li");
    item.className = who;
    const url = /https?:\/\/[^\s<>"]+[^\s<>".,;:!?)]/g;
    let last = 0;
    for (const match of text.matchAll(url)) {
      item.append(document.createTextNode(text.slice(last, match.index)));
      const link = document.createElement("a");
      link.href = match[0]; link.textContent = match[0]; link.target = "_blank"; link.rel = "noopener noreferrer";
      item.append(link);
      last = match.index + match[0].length;
    }
    item.append(document.createTextNode(text.slice(last)));
    list.append(item);
    list.scrollTop = list.scrollHeight;
    return item;
  }

  // Buttons under a message (a consultation's options): a click sends the button's words,
  // which the assistant reads as a plain-text answer ("2. Route A").
  function addChoices(item, choices) {
    if (!choices || !choices.length) return;
    const row = document.createElement("div");
    row.className = "choices";
    for (const label of choices) {
      const button = document.createElement("button");
      button.type = "button"; button.textContent = label;
      button.addEventListener("click", () => { input.value = label; form.requestSubmit(); });
      row.append(button);
    }
    item.append(row);
  }

  function applyLanguage() {
    const t = UI[language];
    document.documentElement.lang = language;
    document.getElementById("label").textContent = t.label;
    document.getElementById("badge").textContent = t.badge;
    input.placeholder = t.placeholder;
    send.textContent = t.send;
    buttons.forEach(b => b.setAttribute("aria-pressed", String(b.dataset.lang === language)));
    localStorage.setItem("voisinage.language", language);
  }

  async function showIntro() {
    try {
      const response = await fetch(`/api/intro?language=${language}`);
      const intro = await response.json();
      document.getElementById("title").textContent = intro.project;
      document.title = intro.project;
      addMessage(intro.text, "bot");
    } catch (error) { /* the chat still works without the introduction */ }
  }

  async function showHistory() {
    try {
      if (!conversation) return;
      const response = await fetch("/api/conversation/messages", { headers: withConversation() });
      if (!response.ok) return;
      for (const line of await response.json()) addMessage(line.text, line.from_citizen ? "me" : "bot");
    } catch (error) { /* a fresh page is fine too */ }
  }

  buttons.forEach(button => button.addEventListener("click", () => {
    if (button.dataset.lang === language) return;
    language = button.dataset.lang; chosen = language;
    applyLanguage();
    list.replaceChildren();
    showIntro();
  }));

  form.addEventListener("submit", async event => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) { input.focus(); return; }
    addMessage(text, "me");
    input.value = "";
    send.disabled = true;
    try {
      const response = await fetch("/api/messages", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ conversation, text, language: chosen }),
      });
      if (response.status === 429 || response.status === 503) {
        addMessage(UI[language].busy, "notice");
        input.value = text;  // nothing was sent: the words are given back
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const answer = await response.json();
      if (answer.conversation !== conversation) {
        conversation = answer.conversation;
        localStorage.setItem("voisinage.conversation", conversation);
      }
      chosen = null;
      if (answer.language !== language && UI[answer.language]) { language = answer.language; applyLanguage(); }
      for (const reply of answer.replies) addChoices(addMessage(reply.text, answer.answered ? "bot" : "notice"), reply.choices);
    } catch (error) {
      addMessage(UI[language].error, "notice");
    } finally {
      send.disabled = false;
      input.focus();
    }
  });

  input.addEventListener("keydown", event => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });

  // The team may answer a concern later: the page asks for such messages every 15 s.
  let lastNotice = 0;
  async function fetchNotices() {
    if (!conversation) return [];
    const response = await fetch(`/api/conversation/notices?after=${lastNotice}`, { headers: withConversation() });
    if (!response.ok) return [];
    const found = await response.json();
    if (found.length) lastNotice = found[found.length - 1].id;
    return found;
  }
  async function catchUpNotices() {
    try { while ((await fetchNotices()).length) { /* already shown by the history */ } }
    catch (error) { /* the chat works without them */ }
  }
  async function pollNotices() {
    if (document.visibilityState !== "visible") return;
    try { for (const notice of await fetchNotices()) addChoices(addMessage(notice.text, "bot"), notice.choices); }
    catch (error) { /* try again at the next tick */ }
  }

  applyLanguage();
  showIntro().then(showHistory).then(catchUpNotices).then(() => setInterval(pollNotices, 15000));
})();
