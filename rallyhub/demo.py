"""Demo data for ``flask rallyhub seed-demo``: the 2017 campaign's rallies, made up again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from rallyhub.auth.models import Role, User
from rallyhub.auth.passwords import hash_password
from rallyhub.campaigns.models import Campaign
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally, RallyStatus, TurnoutReport, Visibility
from rallyhub.signups.models import Signup

DEMO_PASSWORD = "rally-demo-2017"  # noqa: S105 - printed in the README, demo only
DEMO_HQ_EMAIL = "hq@example.org"

CAMPAIGNS = [
    {
        "slug": "giustizia-per-la-cecenia",
        "name": "Justice for Chechnya",
        "hashtag": "#GiustiziaPerLaCecenia",
        "description": (
            "In 2017 men suspected of being gay were abducted, tortured and killed in Chechnya. "
            "We rally so that the Russian authorities open an investigation."
        ),
    },
    {
        "slug": "giustizia-per-zelim",
        "name": "Justice for Zelim",
        "hashtag": "#GiustiziaPerZelim",
        "description": (
            "Zelim Bakaev, a 26-year-old pop singer, disappeared in Chechnya. "
            "We ask for the truth about what happened to him."
        ),
    },
]

# city, country, latitude, longitude, zone, organizer's name, meeting point, days ahead
RALLIES = [
    ("Stockholm", "SE", 59.3326, 18.0649, "Europe/Stockholm", "Elin Lindqvist", "Sergels torg", 9),
    ("Göteborg", "SE", 57.7072, 11.9668, "Europe/Stockholm", "Elin Lindqvist", "Götaplatsen", 16),
    (
        "Ciudad de México",
        "MX",
        19.4326,
        -99.1332,
        "America/Mexico_City",
        "José Hernández",
        "Ángel de la Independencia",
        12,
    ),
    ("Երևան", "AM", 40.1811, 44.5136, "Asia/Yerevan", "Արամ Սարգսյան", "Freedom Square", 10),
    (
        "Berlin",
        "DE",
        52.5163,
        13.3777,
        "Europe/Berlin",
        "Jonas Weber",
        "Pariser Platz, near the Russian embassy",
        8,
    ),
    ("Hamburg", "DE", 53.5511, 9.9937, "Europe/Berlin", "Jonas Weber", "Jungfernstieg", 15),
    (
        "São Paulo",
        "BR",
        -23.5614,
        -46.6559,
        "America/Sao_Paulo",
        "Ana Souza",
        "Avenida Paulista, MASP",
        11,
    ),
    ("Milano", "IT", 45.4642, 9.1900, "Europe/Rome", "Yuri Guaiana", "Piazza della Scala", 7),
    ("Roma", "IT", 41.9009, 12.4833, "Europe/Rome", "Giulia Rossi", "Piazza dell'Esquilino", 14),
    (
        "İstanbul",
        "TR",
        41.0369,
        28.9850,
        "Europe/Istanbul",
        "Ayşe Yılmaz",
        "Side entrance of the Tünel funicular, Karaköy",
        13,
    ),
    (
        "London",
        "GB",
        51.5080,
        -0.1281,
        "Europe/London",
        "Sam Taylor",
        "Trafalgar Square, north terrace",
        9,
    ),
    ("Manchester", "GB", 53.4794, -2.2453, "Europe/London", "Sam Taylor", "Piccadilly Gardens", 17),
    (
        "Paris",
        "FR",
        48.8566,
        2.3522,
        "Europe/Paris",
        "Camille Martin",
        "Place de la République",
        10,
    ),
    ("Madrid", "ES", 40.4168, -3.7038, "Europe/Madrid", "Lucía García", "Puerta del Sol", 12),
    (
        "Toronto",
        "CA",
        43.6532,
        -79.3832,
        "America/Toronto",
        "Alex Chen",
        "Nathan Phillips Square",
        11,
    ),
    ("Tbilisi", "GE", 41.6938, 44.8015, "Asia/Tbilisi", "Nino Beridze", "Rustaveli Avenue", 18),
]

ORGANIZERS = list(dict.fromkeys(row[5] for row in RALLIES))

SUPPORTERS = [
    "Anna Petrova",
    "Анна Смирнова",
    "Marco Bianchi",
    "Lena Schulz",
    "Mehmet Kaya",
    "Lucía Fernández",
    "Gevorg Hakobyan",
    "Sofia Andersson",
    "João Pereira",
    "Ali Demir",
]


def _organizer(name: str, password_hash: str) -> User:
    email = f"organizer{ORGANIZERS.index(name) + 1}@example.org"
    return _get_or_create_user(email, name, Role.ORGANIZER, password_hash)


def _get_or_create_user(email: str, name: str, role: Role, password_hash: str) -> User:
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(
            email=email,
            name=name,
            role=role,
            password_hash=password_hash,
            email_confirmed_dt=utcnow(),
        )
        db.session.add(user)
        db.session.flush()
    return user


def _local_start(zone: str, days_ahead: int) -> datetime:
    """18:00 local time ``days_ahead`` days from today, as an aware datetime."""
    day = date.today() + timedelta(days=days_ahead)
    return datetime.combine(day, time(18, 0), tzinfo=ZoneInfo(zone))


def seed(progress: Callable[[str], None] = print) -> dict[str, int]:
    """Add whatever of the demo data is missing; return how much of each there is."""
    if current_app.config["RALLYHUB_ENV"] == "production":
        raise RuntimeError("seed-demo adds accounts with a published password; not in production")
    password_hash = hash_password(DEMO_PASSWORD)
    _get_or_create_user(DEMO_HQ_EMAIL, "Campaign HQ", Role.HQ, password_hash)

    campaigns = {}
    for spec in CAMPAIGNS:
        campaign = db.session.scalar(select(Campaign).where(Campaign.slug == spec["slug"]))
        if campaign is None:
            campaign = Campaign(start_date=date.today() - timedelta(days=30), **spec)
            db.session.add(campaign)
            db.session.flush()
        campaigns[spec["slug"]] = campaign
    progress("campaigns ready")

    main, zelim = campaigns["giustizia-per-la-cecenia"], campaigns["giustizia-per-zelim"]
    rallies = 0
    for index, (city, country, lat, lon, zone, organizer, point, days) in enumerate(RALLIES):
        campaign = zelim if city in {"Berlin", "Hamburg"} and index % 2 else main
        title = f"{campaign.hashtag} — {city}"
        if db.session.scalar(select(Rally.id).where(Rally.title == title)) is not None:
            continue
        start = _local_start(zone, days)
        rally = Rally(
            campaign=campaign,
            organizer=_organizer(organizer, password_hash),
            title=title,
            description=(
                "Join us to ask for justice for the LGBT+ people persecuted in Chechnya.\n"
                "Bring a sign; the toolkit has printable ones."
            ),
            city=city,
            country_code=country,
            meeting_point=point,
            latitude=lat,
            longitude=lon,
            timezone=zone,
            start_dt=start,
            end_dt=start + timedelta(hours=2),
            capacity=5 if city == "Tbilisi" else None,
            languages="en",
            status=RallyStatus.PENDING if city == "Tbilisi" else RallyStatus.APPROVED,
            approved_dt=None if city == "Tbilisi" else utcnow(),
            visibility=Visibility.PROTECTED if city == "İstanbul" else Visibility.PUBLIC,
        )
        db.session.add(rally)
        db.session.flush()
        for number, name in enumerate(SUPPORTERS[: 3 + index % 5]):
            db.session.add(
                Signup(
                    rally=rally,
                    name=name,
                    email=f"supporter{number}.{rally.id}@example.org",
                    consent_to_contact=number % 2 == 0,
                )
            )
        rallies += 1
    progress(f"{rallies} rallies added")

    _past_rally(main, password_hash)
    toolkit = _starter_toolkit(main)
    progress(f"toolkit ready ({toolkit} items)")
    return {
        "campaigns": len(campaigns),
        "rallies": db.session.scalar(select(func.count()).select_from(Rally)),
        "sign-ups": db.session.scalar(select(func.count()).select_from(Signup)),
    }


def _past_rally(campaign: Campaign, password_hash: str) -> None:
    """The Milan rally of May 2017, with its turnout, so the summaries have a past."""
    title = f"{campaign.hashtag} — Milano, 2017"
    if db.session.scalar(select(Rally.id).where(Rally.title == title)) is not None:
        return
    start = datetime(2017, 5, 17, 18, 0, tzinfo=ZoneInfo("Europe/Rome"))
    organizer = _organizer("Yuri Guaiana", password_hash)
    rally = Rally(
        campaign=campaign,
        organizer=organizer,
        title=title,
        city="Milano",
        country_code="IT",
        meeting_point="Piazza della Scala",
        latitude=45.4674,
        longitude=9.1899,
        timezone="Europe/Rome",
        start_dt=start,
        end_dt=start + timedelta(hours=2),
        status=RallyStatus.APPROVED,
        approved_dt=start - timedelta(days=10),
        description="The International Day Against Homophobia.",
    )
    db.session.add(rally)
    db.session.flush()
    db.session.add(
        TurnoutReport(
            rally=rally,
            people_present=300,
            reported_by=organizer,
            notes="A peaceful, crowded rally.",
        )
    )


def _starter_toolkit(campaign: Campaign) -> int:
    """The starter toolkit in English and Italian, each pair grouped as one item."""
    from rallyhub.toolkits import services as toolkits
    from rallyhub.toolkits.models import Audience, ToolkitItem, ToolkitKind
    from rallyhub.toolkits.starter import ITEMS, sign_pdf

    hq = db.session.scalar(select(User).where(User.email == DEMO_HQ_EMAIL))
    firsts: dict[str, int] = {}
    for title, kind, language, audience, description, content in ITEMS:
        existing = db.session.scalar(select(ToolkitItem).where(ToolkitItem.title == title))
        if existing is None:
            upload = body = None
            if isinstance(content, tuple):
                upload = toolkits.Upload(content[0], sign_pdf(content[1]))
            else:
                body = content
            existing = toolkits.save_item(
                hq,
                None,
                toolkits.ItemInput(
                    campaign_id=campaign.id,
                    title=title,
                    kind=ToolkitKind(kind),
                    language=language,
                    description=description,
                    body=body,
                    audience=Audience(audience),
                    translation_of=firsts.get(kind),
                ),
                upload,
            )
        firsts.setdefault(kind, existing.id)
    return len(ITEMS)
