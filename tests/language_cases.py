"""Reviews in other languages than English, and English that must never be mistaken for another: texts we wrote.

`OTHER` maps an ISO 639-1 code to reviews of shops, apps, hotels and films written in that language, in its own
script (Latin, Cyrillic, Greek, Hebrew, Arabic, Devanagari, Thai, Hangul, kana and Han among them). `ENGLISH_SHORT`
are English texts too short or too plain to identify: ratings, product codes, emoji, one-word verdicts.
"""

from __future__ import annotations

OTHER = {
    "es": [
        "Habitación sucia y ruidosa, nunca más.",
        "El producto llegó roto y el vendedor no contesta los mensajes.",
        "Me encantó la película, los actores están increíbles.",
        "Muy buena relación calidad precio, lo recomiendo a todos.",
    ],
    "fr": [
        "Très bon hôtel, le personnel est vraiment aimable.",
        "Application inutile, elle plante à chaque ouverture.",
        "Le film est beaucoup trop long et l'histoire ne tient pas debout.",
        "Livraison rapide et produit conforme à la description, merci !",
    ],
    "de": [
        "Das Zimmer war sauber und das Frühstück sehr lecker.",
        "Leider ist das Gerät nach zwei Wochen kaputt gegangen.",
        "Ein großartiger Film mit einer wunderbaren Geschichte.",
        "Die Lieferung hat ewig gedauert und niemand hat sich gemeldet.",
    ],
    "it": [
        "Il cibo era ottimo ma il servizio molto lento.",
        "Prodotto di pessima qualità, non lo comprerò mai più.",
        "Un film bellissimo, l'ho visto due volte al cinema.",
        "La camera era piccola ma pulita e il personale gentilissimo.",
    ],
    "pt": [
        "O atendimento foi péssimo e a comida chegou fria.",
        "Adorei o livro, não consegui parar de ler até o final.",
        "O aplicativo é ótimo, muito fácil de usar no dia a dia.",
        "Não recomendo este hotel, o quarto cheirava a mofo.",
    ],
    "nl": [
        "Het eten was heerlijk en de bediening erg vriendelijk.",
        "Slechte kwaliteit, na een week was het al kapot.",
        "Wat een saaie film, ik ben halverwege in slaap gevallen.",
        "De app werkt prima en de klantenservice reageert snel.",
    ],
    "pl": [
        "Bardzo dobry produkt, polecam wszystkim znajomym.",
        "Obsługa była niemiła, a pokój brudny i zimny.",
        "Film jest nudny i zdecydowanie za długi.",
        "Przesyłka dotarła szybko, wszystko zgodne z opisem.",
    ],
    "tr": [
        "Otel çok temizdi ve personel son derece yardımseverdi.",
        "Ürün bozuk geldi, satıcı hiçbir şekilde yardımcı olmadı.",
        "Harika bir film, herkese tavsiye ederim.",
        "Uygulama sürekli donuyor, hiç memnun kalmadım.",
    ],
    "ru": [
        "Ужасное обслуживание, больше никогда сюда не приду.",
        "Отличный фильм, смотрел с огромным удовольствием.",
        "Товар пришёл быстро, качество очень хорошее.",
        "Приложение постоянно вылетает, пользоваться невозможно.",
    ],
    "uk": [
        "Чудовий готель, персонал дуже привітний і уважний.",
        "Якість жахлива, річ зламалася вже наступного дня.",
        "Цей фільм мені дуже сподобався, раджу всім подивитися.",
        "Доставка була швидкою, але упаковка пошкоджена.",
    ],
    "el": [
        "Το ξενοδοχείο ήταν πολύ καθαρό και το προσωπικό ευγενικό.",
        "Η ταινία ήταν βαρετή και πολύ μεγάλη.",
        "Το προϊόν έφτασε σπασμένο και κανείς δεν απαντά.",
        "Εξαιρετική εφαρμογή, τη χρησιμοποιώ κάθε μέρα.",
    ],
    "ar": [
        "الفندق نظيف جدا والموظفون لطفاء للغاية.",
        "المنتج سيء ولا أنصح أحدا بشرائه.",
        "فيلم رائع، استمتعت بكل دقيقة منه.",
        "التطبيق بطيء جدا ويتوقف باستمرار.",
    ],
    "he": [
        "המלון היה נקי מאוד והצוות היה נחמד.",
        "המוצר הגיע שבור ואף אחד לא עונה לי.",
        "סרט נהדר, נהניתי מכל רגע.",
        "האפליקציה איטית ונתקעת כל הזמן.",
    ],
    "hi": [
        "यह फिल्म बहुत अच्छी है, सबको देखनी चाहिए।",
        "होटल का कमरा गंदा था और स्टाफ बहुत बदतमीज था।",
        "सामान समय पर पहुंचा और गुणवत्ता भी अच्छी है।",
        "यह ऐप बार बार बंद हो जाता है, बिल्कुल बेकार है।",
    ],
    "th": [
        "โรงแรมสะอาดมาก พนักงานบริการดีเยี่ยม",
        "สินค้าคุณภาพแย่มาก ไม่แนะนำให้ซื้อ",
        "หนังเรื่องนี้สนุกมาก ดูจบแล้วอยากดูอีก",
        "แอปนี้ช้ามากและค้างบ่อย",
    ],
    "ja": [
        "最悪のアプリ。すぐにアンインストールした。",
        "ホテルの部屋はとても清潔で、スタッフも親切でした。",
        "この映画は本当に感動しました。もう一度見たいです。",
        "商品が壊れて届きました。二度と買いません。",
    ],
    "zh": [
        "这家酒店非常干净，服务员也很热情。",
        "质量太差了，用了两天就坏了。",
        "这部电影太好看了，强烈推荐大家去看。",
        "快递很慢，客服态度也不好。",
    ],
    "ko": [
        "호텔이 정말 깨끗하고 직원들도 친절했어요.",
        "제품이 고장난 상태로 왔고 환불도 안 해줘요.",
        "이 영화 정말 재미있어요. 꼭 보세요.",
        "앱이 너무 느리고 자주 멈춰요.",
    ],
    "vi": [
        "Khách sạn rất sạch sẽ và nhân viên thân thiện.",
        "Sản phẩm kém chất lượng, dùng vài ngày đã hỏng.",
        "Bộ phim rất hay, tôi đã xem hai lần.",
        "Ứng dụng chạy chậm và hay bị treo.",
    ],
    "id": [
        "Hotelnya bersih dan pelayanannya sangat ramah.",
        "Barangnya rusak saat sampai dan penjual tidak membalas pesan.",
        "Filmnya sangat bagus, saya menontonnya dua kali.",
        "Aplikasi ini sering macet dan sangat lambat.",
    ],
    "sv": [
        "Maten var god men servicen var väldigt långsam.",
        "Produkten gick sönder efter bara en vecka.",
        "En fantastisk film som jag gärna ser igen.",
        "Appen fungerar bra och är lätt att använda.",
    ],
}

# English a language identifier can hardly tell from anything else: it must never be flagged.
ENGLISH_SHORT = [
    "ok",
    "meh",
    "10/10",
    "5/5 would buy again",
    "A+",
    "SKU-4471-B",
    "XJ-900 model 2",
    "😀😀😀",
    "👍",
    "!!!",
    "Great!",
    "Nice",
    "Bravo",
    "Merci",
    "Danke",
    "Gracias!!",
    "so-so",
    "lol",
    "wow",
    "Love it",
    "Not bad",
    "Fine.",
    "Perfecto",
    "USB-C cable",
    "iPhone 15 Pro",
    "Samsung Galaxy",
    "Tokyo Drift",
    "Amélie",
    "Pokémon",
    "Déjà vu all over again",
]
