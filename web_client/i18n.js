// Interface text in English and French, chosen from the browser's preferred languages.

const TEXT = {
  en: {
    appName: "chatd",
    skipToContent: "Skip to content",
    signInTitle: "Sign in",
    signInLead: "Talk with your firm and your clients, live.",
    email: "Email",
    password: "Password",
    signIn: "Sign in",
    signingIn: "Signing in…",
    wrongPassword: "Wrong email or password.",
    networkError: "The server cannot be reached. Try again in a moment.",
    signOut: "Sign out",
    inbox: "Inbox",
    myThreads: "My conversations",
    threads: "Conversations",
    newThread: "New conversation",
    newShort: "New",
    noThreads: "No conversations yet.",
    noThreadSelected: "Pick a conversation on the left, or start a new one.",
    unreadCount: (n) => (n === 1 ? "1 unread message" : `${n} unread messages`),
    internalThread: "Internal",
    back: "Back to conversations",
    loadOlder: "Load older messages",
    note: "Note",
    internalNote: "Internal note",
    reply: "Reply",
    replyMode: "Reply mode",
    messagePlaceholder: "Write a message…",
    composerHint: "Markdown is kept as written. Enter sends, Shift+Enter starts a new line.",
    notePlaceholder: "Internal note, only staff will see it…",
    messageLabel: "Message",
    send: "Send",
    addNote: "Add note",
    seenBy: (names, time) => `Seen by ${names} at ${time}`,
    seenByNoTime: (names) => `Seen by ${names}`,
    typing: (names) => `${names} ${names.includes(",") ? "are" : "is"} typing…`,
    typingNote: (names) => `${names} ${names.includes(",") ? "are" : "is"} writing a note…`,
    and: "and",
    you: "You",
    deleted: "This message was deleted.",
    edited: "edited",
    sending: "Sending…",
    queued: "Waiting for the connection; it will be sent automatically.",
    failed: "Not sent:",
    retry: "Retry",
    discard: "Discard",
    offline: "You are offline. Messages you send will go out when the connection is back.",
    reconnecting: "Connection lost. Reconnecting…",
    reconnectNow: "Reconnect now",
    subject: "Subject",
    client: "Client",
    noClient: "Internal (no client)",
    firstMessage: "First message",
    create: "Start conversation",
    cancel: "Cancel",
    enableNotifications: "Enable notifications",
    notificationsOn: "Notifications on",
    notificationsBlocked: "Notifications blocked",
    newMessageFrom: (name) => `New message from ${name}`,
    unknownUser: "Someone",
    conversationWith: (name) => `Conversation: ${name}`,
    messages: "Messages",
    today: "Today",
    yesterday: "Yesterday",
    draft: "Draft",
    loading: "Loading…",
    notFound: "This conversation does not exist or you may not see it.",
    signedInAs: (name) => `Signed in as ${name}`,
    attach: "Attach files",
    attachments: "Attachments",
    uploading: "Uploading…",
    removeFile: (name) => `Remove ${name}`,
    uploadFailed: "Upload failed:",
    video: "Video",
    scheduleSend: "Schedule send",
    scheduleTitle: "Send this message later",
    sendAt: "Send at",
    cancelIfClientWrites: "Cancel if the client writes first",
    schedule: "Schedule",
    scheduledCount: (n) => (n === 1 ? "1 scheduled message" : `${n} scheduled messages`),
    willBeSent: (when) => `Will be sent ${when}`,
    cancelScheduled: (when) => `Cancel the message scheduled for ${when}`,
    edit: "Edit",
    editMessage: "Edit this message",
    editLabel: "Edit the message",
    save: "Save",
    delete: "Delete",
    deleteMessage: "Delete this message",
    confirmDelete: "Delete this message for everyone?",
    roles: { owner: "Owner", manager: "Manager", staff: "Staff", client: "Client", bot: "Bot" },
  },
  fr: {
    appName: "chatd",
    skipToContent: "Aller au contenu",
    signInTitle: "Connexion",
    signInLead: "Échangez en direct avec votre cabinet et vos clients.",
    email: "E-mail",
    password: "Mot de passe",
    signIn: "Se connecter",
    signingIn: "Connexion…",
    wrongPassword: "E-mail ou mot de passe incorrect.",
    networkError: "Le serveur est injoignable. Réessayez dans un instant.",
    signOut: "Se déconnecter",
    inbox: "Boîte de réception",
    myThreads: "Mes conversations",
    threads: "Conversations",
    newThread: "Nouvelle conversation",
    newShort: "Nouvelle",
    noThreads: "Aucune conversation pour l’instant.",
    noThreadSelected: "Choisissez une conversation à gauche, ou commencez-en une nouvelle.",
    unreadCount: (n) => (n === 1 ? "1 message non lu" : `${n} messages non lus`),
    internalThread: "Interne",
    back: "Retour aux conversations",
    loadOlder: "Charger les messages précédents",
    note: "Note",
    internalNote: "Note interne",
    reply: "Répondre",
    replyMode: "Mode de réponse",
    messagePlaceholder: "Écrivez un message…",
    composerHint: "Le Markdown est conservé tel quel. Entrée envoie, Maj+Entrée passe à la ligne.",
    notePlaceholder: "Note interne, visible du cabinet seulement…",
    messageLabel: "Message",
    send: "Envoyer",
    addNote: "Ajouter la note",
    seenBy: (names, time) => `Vu par ${names} à ${time}`,
    seenByNoTime: (names) => `Vu par ${names}`,
    typing: (names) => `${names} ${names.includes(",") ? "écrivent" : "écrit"}…`,
    typingNote: (names) => `${names} ${names.includes(",") ? "rédigent" : "rédige"} une note…`,
    and: "et",
    you: "Vous",
    deleted: "Ce message a été supprimé.",
    edited: "modifié",
    sending: "Envoi…",
    queued: "En attente de connexion ; il partira automatiquement.",
    failed: "Non envoyé :",
    retry: "Réessayer",
    discard: "Abandonner",
    offline: "Vous êtes hors ligne. Vos messages partiront dès le retour de la connexion.",
    reconnecting: "Connexion perdue. Reconnexion…",
    reconnectNow: "Se reconnecter",
    subject: "Objet",
    client: "Client",
    noClient: "Interne (sans client)",
    firstMessage: "Premier message",
    create: "Démarrer la conversation",
    cancel: "Annuler",
    enableNotifications: "Activer les notifications",
    notificationsOn: "Notifications activées",
    notificationsBlocked: "Notifications bloquées",
    newMessageFrom: (name) => `Nouveau message de ${name}`,
    unknownUser: "Quelqu’un",
    conversationWith: (name) => `Conversation : ${name}`,
    messages: "Messages",
    today: "Aujourd’hui",
    yesterday: "Hier",
    draft: "Brouillon",
    loading: "Chargement…",
    notFound: "Cette conversation n’existe pas ou vous n’y avez pas accès.",
    signedInAs: (name) => `Connecté en tant que ${name}`,
    attach: "Joindre des fichiers",
    attachments: "Pièces jointes",
    uploading: "Envoi du fichier…",
    removeFile: (name) => `Retirer ${name}`,
    uploadFailed: "Échec de l’envoi :",
    video: "Vidéo",
    scheduleSend: "Programmer l’envoi",
    scheduleTitle: "Envoyer ce message plus tard",
    sendAt: "Envoyer le",
    cancelIfClientWrites: "Annuler si le client écrit avant",
    schedule: "Programmer",
    scheduledCount: (n) => (n === 1 ? "1 message programmé" : `${n} messages programmés`),
    willBeSent: (when) => `Sera envoyé ${when}`,
    cancelScheduled: (when) => `Annuler le message programmé pour ${when}`,
    edit: "Modifier",
    editMessage: "Modifier ce message",
    editLabel: "Modifier le message",
    save: "Enregistrer",
    delete: "Supprimer",
    deleteMessage: "Supprimer ce message",
    confirmDelete: "Supprimer ce message pour tout le monde ?",
    roles: { owner: "Associé", manager: "Responsable", staff: "Collaborateur", client: "Client", bot: "Robot" },
  },
};

export function pickLanguage(preferred = navigator.languages || [navigator.language]) {
  for (const tag of preferred) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in TEXT) return base;
  }
  return "en";
}

export const lang = pickLanguage();
export const t = TEXT[lang];

const timeFormat = new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short" });
const fullFormat = new Intl.DateTimeFormat(lang, { dateStyle: "full", timeStyle: "short" });

export function formatTime(iso) {
  return timeFormat.format(new Date(iso));
}

export function formatFull(iso) {
  return fullFormat.format(new Date(iso));
}

/** A short time for lists: the hour today, else the day. */
export function formatShort(iso) {
  const when = new Date(iso);
  const now = new Date();
  return when.toDateString() === now.toDateString() ? timeFormat.format(when) : dayFormat.format(when);
}

export function formatDay(iso) {
  const when = new Date(iso);
  const now = new Date();
  const yesterday = new Date(now.getTime() - 86400000);
  if (when.toDateString() === now.toDateString()) return t.today;
  if (when.toDateString() === yesterday.toDateString()) return t.yesterday;
  return new Intl.DateTimeFormat(lang, { weekday: "long", day: "numeric", month: "long" }).format(when);
}

export function joinNames(names) {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} ${t.and} ${names.at(-1)}`;
}
