"""The starter toolkit of #GiustiziaPerLaCecenia that `seed-demo` adds, in English and Italian."""

from __future__ import annotations

SAFETY_EN = """Before you go
- Go with people you know, and agree on a place to meet if you are separated.
- Tell someone who is not coming where you will be and when you expect to be back.
- Charge your phone, lock it with a PIN (not a fingerprint or face), and turn off location
  sharing in apps you do not need.
- Carry ID if the law requires it, water, and the phone number of a lawyer or a legal-aid line
  written on your arm or on paper.
- Leave at home what you would not want the police to see.

At the rally
- Stay with your group and keep to the edges of the crowd if you may need to leave quickly.
- Photograph signs and speakers, not faces: people from Chechnya and Russia may be in danger if
  recognized. Ask before filming anyone.
- Follow the stewards. If there is trouble, move away calmly and meet at the agreed place.

If you are stopped or detained
- Stay calm and polite. Do not resist, even if the stop seems unfair.
- Give your name and the details the law requires; you may say nothing more until you have
  spoken to a lawyer.
- Do not sign anything you do not understand. Ask for a lawyer and, abroad, for your consulate.
- Remember the officers' numbers and the time and place. Write them down as soon as you can.
- Tell the organizers as soon as you are free: they will help with legal support.

After the rally
- Let the person you told know that you are safe.
- Think twice before posting photos: blur faces and remove location data."""

SAFETY_IT = """Prima di andare
- Vai con persone che conosci e concordate un punto d'incontro se vi separate.
- Di' a qualcuno che non viene dove sarai e quando pensi di tornare.
- Carica il telefono, bloccalo con un PIN (non impronta o volto) e spegni la condivisione della
  posizione nelle app che non ti servono.
- Porta un documento se la legge lo richiede, acqua e il numero di un avvocato o di un servizio
  di assistenza legale scritto sul braccio o su un foglio.
- Lascia a casa ciò che non vorresti far vedere alla polizia.

Durante la manifestazione
- Resta con il tuo gruppo e tieniti ai margini della folla se potresti dover andare via.
- Fotografa cartelli e oratori, non i volti: chi viene dalla Cecenia o dalla Russia può essere
  in pericolo se riconosciuto. Chiedi prima di riprendere qualcuno.
- Segui gli steward. In caso di problemi allontanati con calma e vai al punto d'incontro.

Se vieni fermato o trattenuto
- Mantieni la calma e sii cortese. Non opporre resistenza, anche se il fermo sembra ingiusto.
- Fornisci il tuo nome e i dati richiesti dalla legge; puoi non dire altro finché non hai
  parlato con un avvocato.
- Non firmare nulla che non capisci. Chiedi un avvocato e, all'estero, il tuo consolato.
- Ricorda i numeri di matricola degli agenti, l'ora e il luogo. Annotali appena puoi.
- Avvisa gli organizzatori appena sei libero: ti aiuteranno con l'assistenza legale.

Dopo la manifestazione
- Fai sapere alla persona che avevi avvisato che stai bene.
- Pensaci prima di pubblicare foto: sfoca i volti e rimuovi i dati di posizione."""

PRESS_EN = """FOR IMMEDIATE RELEASE

[City] rallies for justice for the LGBT+ people persecuted in Chechnya

[City], [date] — On [date] at [time], [number] people will gather at [place] to ask the
Russian authorities to investigate the abduction, torture and killing of men suspected of being
gay or bisexual in Chechnya, and to bring those responsible to justice.

Since 2017 more than 100 men have been detained in illegal prisons and tortured; at least three
were killed. More than 2 million people signed the petition for an investigation. Activists
who tried to deliver it in Moscow were detained.

"[A quote from the local organizer: why this matters to your city.]"

The rally in [City] is one of many under #GiustiziaPerLaCecenia, in Sweden, Mexico, Armenia,
Germany, Brazil, Italy, Turkey, the United Kingdom and elsewhere.

Contact: [name], [e-mail], [phone]"""

PRESS_IT = """COMUNICATO STAMPA

[Città] in piazza per chiedere giustizia per le persone LGBT+ perseguitate in Cecenia

[Città], [data] — Il [data] alle [ora], [numero] persone si ritroveranno in [luogo] per chiedere
alle autorità russe di indagare sui rapimenti, le torture e le uccisioni di uomini sospettati di
essere gay o bisessuali in Cecenia, e di assicurare i responsabili alla giustizia.

Dal 2017 più di 100 uomini sono stati trattenuti in prigioni illegali e torturati; almeno tre
sono stati uccisi. Più di 2 milioni di persone hanno firmato la petizione per un'indagine. Gli
attivisti che hanno provato a consegnarla a Mosca sono stati fermati.

"[Una frase dell'organizzatore locale: perché questo conta per la tua città.]"

La manifestazione di [Città] è una delle tante sotto #GiustiziaPerLaCecenia, in Svezia,
Messico, Armenia, Germania, Brasile, Italia, Turchia, Regno Unito e altrove.

Contatti: [nome], [e-mail], [telefono]"""


def sign_pdf(lines: list[str]) -> bytes:
    """A one-page A4 PDF with big, centred lines of text: a printable sign."""
    text = ["BT", "/F1 54 Tf"]
    y = 560
    for line in lines:
        safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        width = 0.55 * 54 * len(line)
        text.append(f"1 0 0 1 {max(20, (595 - width) / 2):.0f} {y} Tm ({safe}) Tj")
        y -= 90
    text.append("ET")
    stream = "\n".join(text).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


# title, kind, language, audience, description, body or (file name, sign lines)
ITEMS = [
    (
        "Sign: Justice for Chechnya",
        "sign",
        "en",
        "public",
        "A4, print and hold high.",
        ("sign-justice-for-chechnya.pdf", ["JUSTICE", "FOR", "CHECHNYA", "#GiustiziaPerLaCecenia"]),
    ),
    (
        "Cartello: Giustizia per la Cecenia",
        "sign",
        "it",
        "public",
        "A4, da stampare.",
        (
            "cartello-giustizia-per-la-cecenia.pdf",
            ["GIUSTIZIA", "PER LA", "CECENIA", "#GiustiziaPerLaCecenia"],
        ),
    ),
    (
        "Press release template",
        "press_release",
        "en",
        "organizers",
        "Fill in the brackets and send it to local media two days before.",
        PRESS_EN,
    ),
    (
        "Comunicato stampa (modello)",
        "press_release",
        "it",
        "organizers",
        "Completa le parentesi e invialo ai media locali due giorni prima.",
        PRESS_IT,
    ),
    (
        "Safety briefing for participants",
        "safety_guide",
        "en",
        "public",
        "How to stay safe at a rally, and what to do if you are detained.",
        SAFETY_EN,
    ),
    (
        "Sicurezza: cosa sapere prima di partecipare",
        "safety_guide",
        "it",
        "public",
        "Come stare al sicuro in piazza e cosa fare se vieni fermato.",
        SAFETY_IT,
    ),
]
